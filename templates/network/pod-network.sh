#!/bin/sh
# Managed by Capstan ({{clusterName}}): applies {{configFile}} on {{nodeName}}. Idempotent: run at boot
# by {{unit}} and by `capstan apply` when the file changes, so routes change live without restarting anything.
# Capstan's routes carry protocol {{routeProtocol}}: routes with it that the file no longer names are removed,
# and no other route is touched.
set -eu
config={{configFile}}
proto={{routeProtocol}}
comment="capstan pod egress"
wanted=" "
while read -r kind a b rest; do
  case "$kind" in
    route)
      wanted="$wanted$a "
      # At boot the interface may not have its address yet: the gateway is on-link only once it has.
      tries=0
      until ip -4 route replace "$a" via "$b" proto "$proto"; do
        tries=$((tries + 1))
        [ "$tries" -lt 30 ] || { echo "cannot route $a via $b (node $rest)" >&2; exit 1; }
        sleep 1
      done ;;
    masquerade)
      iptables -w -t nat -C POSTROUTING -s "$a" ! -d "$b" -m comment --comment "$comment" -j MASQUERADE 2>/dev/null ||
        iptables -w -t nat -A POSTROUTING -s "$a" ! -d "$b" -m comment --comment "$comment" -j MASQUERADE ;;
  esac
done < "$config"
ip -4 route show proto "$proto" | while read -r dst rest; do
  case "$wanted" in
    *" $dst "*) ;;
    *) ip -4 route del "$dst" proto "$proto" ;;
  esac
done
