import Foundation
import Testing
import TestSupport

/// `capstan artifacts fetch` as a user runs it, from a local release source built here in the upstream
/// layout (a managed cluster's workers: kubelet, containerd, runc, CNI plugins; no crictl) plus images/.
@Suite("capstan artifacts fetch", .tags(.unit))
struct ArtifactsFetchTests {
    func sh(_ script: String) throws {
        let r = try runProgram(["/bin/sh", "-c", "set -e; " + script])
        #expect(r.status == 0, "\(script): \(r.stderr)")
    }

    /// Release files for Kubernetes v1.30.8 with containerd 1.7.18, runc 1.1.13, CNI 1.5.0 (the 1.30 defaults).
    func releaseSource(_ dir: String) throws {
        try sh("""
        cd '\(dir)'
        mkdir -p kubernetes/v1.30.8/bin/linux/amd64 containerd/v1.7.18 runc/v1.1.13 cni-plugins/v1.5.0 stage/bin stage/cni
        printf 'kubelet\\n' > kubernetes/v1.30.8/bin/linux/amd64/kubelet
        sha256sum kubernetes/v1.30.8/bin/linux/amd64/kubelet | cut -d' ' -f1 > kubernetes/v1.30.8/bin/linux/amd64/kubelet.sha256
        printf 'containerd\\n' > stage/bin/containerd
        tar -C stage -czf containerd/v1.7.18/containerd-1.7.18-linux-amd64.tar.gz bin
        (cd containerd/v1.7.18 && sha256sum containerd-1.7.18-linux-amd64.tar.gz > containerd-1.7.18-linux-amd64.tar.gz.sha256sum)
        printf 'runc\\n' > runc/v1.1.13/runc.amd64
        (cd runc/v1.1.13 && sha256sum runc.amd64 > runc.sha256sum)
        printf 'bridge\\n' > stage/cni/bridge
        tar -C stage/cni -czf cni-plugins/v1.5.0/cni-plugins-linux-amd64-v1.5.0.tgz ./bridge
        (cd cni-plugins/v1.5.0 && sha256sum cni-plugins-linux-amd64-v1.5.0.tgz > cni-plugins-linux-amd64-v1.5.0.tgz.sha256)
        """)
    }

    func inventory(_ dir: String, source: String) throws -> String {
        try sh("cd '\(dir)' && printf 'ca\\n' > ca.crt && printf 'abcdef.0123456789abcdef\\n' > token")
        let path = dir + "/cluster.yaml"
        try """
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: airgap
        spec:
          kubernetesVersion: v1.30.8
          controlPlane:
            mode: managed
            managed:
              provider: other
              apiEndpoint: https://10.0.0.10:6443
              caFile: ca.crt
              joinCredentials:
                bootstrapTokenFile: token
          ssh:
            user: root
            knownHosts:
              policy: accept-new
          artifacts:
            source: local
            directory: \(source)
            cacheDirectory: \(dir)/cache
          hosts:
            - name: w1
              address: 10.0.0.21
              roles: [worker]

        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("bundles the release files and the pause image with its SHA-256 from --images-from; says how to fill what is missing; refuses a tampered image")
    func fetchWithImages() throws {
        let dir = NSTemporaryDirectory() + "capstan-fetch-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/source", withIntermediateDirectories: true)
        try releaseSource(dir + "/source")
        let inv = try inventory(dir, source: dir + "/source")

        // Without images anywhere: the binaries are bundled, crictl and the pause image are named with their fix.
        let plain = try capstan(["artifacts", "fetch", "-i", inv, "--to", dir + "/bundle"])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stderr.contains("warning: crictl 1.30.1 not bundled"), "\(plain.stderr)")
        #expect(plain.stderr.contains("skopeo copy docker://registry.k8s.io/pause:3.9 oci-archive:\(dir)/bundle/images/registry.k8s.io_pause_3.9.oci.tar:registry.k8s.io/pause:3.9"), "\(plain.stderr)")
        #expect(plain.stdout.contains("4 of 5 artifacts and 0 of 1 images"), "\(plain.stdout)")
        #expect(FileManager.default.fileExists(atPath: dir + "/bundle/containerd/v1.7.18/containerd-1.7.18-linux-amd64.tar.gz"))

        // An image directory filled elsewhere (as skopeo writes it): copied with exactly its line in the list.
        try FileManager.default.createDirectory(atPath: dir + "/images-src/images", withIntermediateDirectories: true)
        try "pause\n".write(toFile: dir + "/pause", atomically: true, encoding: .utf8)
        let archive = try OCIArchive.build(at: dir + "/images-src/images/registry.k8s.io_pause_3.9.oci.tar", files: ["pause": dir + "/pause"],
                                           annotations: ["org.opencontainers.image.ref.name": "registry.k8s.io/pause:3.9"], command: ["/pause"])
        try "\(String(repeating: "0", count: 64))  other.oci.tar\n\(archive.sha256)  registry.k8s.io_pause_3.9.oci.tar\n"
            .write(toFile: dir + "/images-src/images/SHA256SUMS", atomically: true, encoding: .utf8)
        let filled = try capstan(["artifacts", "fetch", "-i", inv, "--to", dir + "/bundle", "--images-from", dir + "/images-src"])
        #expect(filled.status == 0, "\(filled.stderr)")
        #expect(filled.stdout.contains("images/registry.k8s.io_pause_3.9.oci.tar"), "\(filled.stdout)")
        #expect(filled.stdout.contains("4 of 5 artifacts and 1 of 1 images"), "\(filled.stdout)")
        #expect(try String(contentsOfFile: dir + "/bundle/images/SHA256SUMS", encoding: .utf8) == "\(archive.sha256)  registry.k8s.io_pause_3.9.oci.tar\n")
        let copied = try runProgram(["/usr/bin/sha256sum", dir + "/bundle/images/registry.k8s.io_pause_3.9.oci.tar"])
        #expect(copied.stdout.hasPrefix(archive.sha256))

        // A tampered archive in the image source is refused (fresh cache: nothing vouches for it).
        try sh("printf x >> '\(dir)/images-src/images/registry.k8s.io_pause_3.9.oci.tar'; rm -rf '\(dir)/cache'")
        let tampered = try capstan(["artifacts", "fetch", "-i", inv, "--to", dir + "/bundle2", "--images-from", dir + "/images-src"])
        #expect(tampered.status == 1)
        #expect(tampered.stderr.contains("checksum mismatch for \(dir)/images-src/images/registry.k8s.io_pause_3.9.oci.tar"), "\(tampered.stderr)")
    }
}
