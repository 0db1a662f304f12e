# Sourced by the benchmarks: k8s_lab LAB [lab up options…] boots lab LAB with "$bin", gives it an artifact
# directory with the lab's files plus Capstan's Kubernetes stand-ins, and sets lab_dir, lab_artifacts,
# artifacts and inventory (LAB's inventory-k8s.yaml, pointing at that directory).
k8s_lab() {
  local name=$1
  shift
  "$bin" lab up --name "$name" "$@" >/dev/null
  lab_dir=/var/lib/capstan/lab/$name
  lab_artifacts=/var/cache/capstan/lab/artifacts
  artifacts=/var/cache/capstan/lab/k8s-artifacts-$name
  rm -rf "$artifacts" && mkdir -p "$artifacts"
  for entry in "$lab_artifacts"/*; do ln -s "$entry" "$artifacts/"; done
  sh scripts/standin-artifacts.sh "$artifacts" 1.31.4 >/dev/null
  inventory=$lab_dir/inventory-k8s.yaml
  sed "s|^    directory: $lab_artifacts\$|    directory: $artifacts|" "$lab_dir/inventory.yaml" > "$inventory"
}
