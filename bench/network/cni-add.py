# Runs on a lab host: puts a "pod" (an `ip netns` namespace) on the pod network with the conflist Capstan
# wrote, every plugin in order with CNI_COMMAND=ADD and the previous result, as libcni does; prints the
# pod's address. usage: python3 - NAME < cni-add.py
import json, os, subprocess, sys

name = sys.argv[1]
conflist = json.load(open("/etc/cni/net.d/10-capstan.conflist"))
subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL)
subprocess.run(["ip", "netns", "add", name], check=True)
env = dict(os.environ, CNI_COMMAND="ADD", CNI_CONTAINERID=name, CNI_NETNS="/run/netns/" + name, CNI_IFNAME="eth0", CNI_PATH="/opt/cni/bin")
result = None
for plugin in conflist["plugins"]:
    config = dict(plugin, name=conflist["name"], cniVersion=conflist["cniVersion"])
    if result is not None:
        config["prevResult"] = result
    out = subprocess.run(["/opt/cni/bin/" + plugin["type"]], input=json.dumps(config).encode(), env=env, capture_output=True)
    if out.returncode != 0:
        sys.exit("CNI plugin %s failed: %s %s" % (plugin["type"], out.stdout.decode(), out.stderr.decode()))
    result = json.loads(out.stdout)
print(result["ips"][0]["address"].split("/")[0])
