#!/usr/bin/env bash
# Build the rehearsal stack's real control plane from upstream source, once per machine:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl at k8s.io/kubernetes
# $KUBERNETES_VERSION, and etcd $ETCD_VERSION, into a cache outside the checkout keyed by version.
# Also copies the Gateway API standard CRDs and the OpenShift Route CRD out of the Go module cache.
# Idempotent: a version whose binaries and CRDs are all present is not rebuilt.
#
#   tools/build-kube.sh            build what is missing, print the bin directories
#   tools/build-kube.sh --print    only print where things are (exit 1 if missing)
#
# Why wrapper modules: k8s.io/kubernetes' go.mod replaces every staging module (k8s.io/api,
# k8s.io/client-go, ...) with ./staging/...; replace directives of a dependency are ignored, so
# `go install k8s.io/kubernetes/cmd/...@v` fails. A wrapper module requires k8s.io/kubernetes and
# replaces each of those modules with its published v0.<minor>.<patch> release instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/kube-versions.env
. "$here/kube-versions.env"

cache="${GREENLANG_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/greenlang-launch}"
kube_dir="$cache/kubernetes/$KUBERNETES_VERSION"
etcd_dir="$cache/etcd/$ETCD_VERSION"
crd_dir="$cache/crds/gateway-api-$GATEWAY_API_VERSION+openshift-api-$OPENSHIFT_API_VERSION"
kube_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

have_all() {
  for b in "${kube_bins[@]}"; do [[ -x "$kube_dir/bin/$b" ]] || return 1; done
  [[ -x "$etcd_dir/bin/etcd" ]] || return 1
  [[ -f "$crd_dir/.complete" ]] || return 1
}

print_dirs() {
  echo "kubernetes: $kube_dir/bin"
  echo "etcd:       $etcd_dir/bin"
  echo "crds:       $crd_dir"
}

if [[ "${1:-}" == "--print" ]]; then
  print_dirs
  have_all
  exit
fi

if have_all; then
  echo "build-kube: $KUBERNETES_VERSION, etcd $ETCD_VERSION and CRDs already built"
  print_dirs
  exit 0
fi

command -v go >/dev/null || { echo "build-kube: go not found on PATH (Go >= 1.26 needed)" >&2; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

work="$(mktemp -d "${TMPDIR:-/tmp}/build-kube.XXXXXX")"
trap 'rm -rf "$work"' EXIT

module_json() {  # module@version -> `go mod download -json` output (fails with the proxy's message)
  (cd "$work" && go mod download -json "$1")
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

build_kubernetes() {
  local ver="$KUBERNETES_VERSION" minor staging_ver gomod mod
  minor="${ver#v1.}"; minor="${minor%%.*}"
  staging_ver="v0.${ver#v1.}"
  echo "build-kube: k8s.io/kubernetes $ver (staging modules at $staging_ver)"
  gomod="$(module_json "k8s.io/kubernetes@$ver" | json_field GoMod)"
  mod="$work/kubernetes"; mkdir -p "$mod"
  {
    echo "module greenlang.launch/rehearsal-kube-build"
    echo
    grep -m1 '^go ' "$gomod"
    grep -m1 '^godebug ' "$gomod" || true
    echo
    echo "require k8s.io/kubernetes $ver"
    echo
    echo "replace ("
    # Every `k8s.io/<name> => ./staging/src/k8s.io/<name>` line becomes the published module.
    sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\t\1 => \1 '"$staging_ver"'#p' "$gomod"
    echo ")"
  } > "$mod/go.mod"
  echo "build-kube: $(grep -c '=> k8s.io/' "$mod/go.mod") staging replacements from the served go.mod"
  local pkgs=() b
  for b in "${kube_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  (cd "$mod" && go get "${pkgs[@]/%/@$ver}" >/dev/null)
  local date ld="" p
  date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$ver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
  done
  mkdir -p "$work/kube-bin"
  (cd "$mod" && go build -trimpath -tags selinux,notest -ldflags "-s -w$ld" -o "$work/kube-bin/" "${pkgs[@]}")
  mkdir -p "$kube_dir"
  rm -rf "$kube_dir/bin.new"; mv "$work/kube-bin" "$kube_dir/bin.new"
  rm -rf "$kube_dir/bin"; mv "$kube_dir/bin.new" "$kube_dir/bin"
}

build_etcd() {
  local ver="$ETCD_VERSION" mod="$work/etcd"
  echo "build-kube: go.etcd.io/etcd/server/v3 $ver"
  mkdir -p "$mod" "$work/etcd-bin"
  printf 'module greenlang.launch/rehearsal-etcd-build\n\ngo 1.26.0\n' > "$mod/go.mod"
  (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ver" >/dev/null)
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$work/etcd-bin/etcd" go.etcd.io/etcd/server/v3)
  mkdir -p "$etcd_dir"
  rm -rf "$etcd_dir/bin"; mv "$work/etcd-bin" "$etcd_dir/bin"
}

copy_crds() {
  local gw os out="$work/crds"
  mkdir -p "$out"
  gw="$(module_json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | json_field Dir)"
  os="$(module_json "github.com/openshift/api@$OPENSHIFT_API_VERSION" | json_field Dir)"
  cp "$gw"/config/crd/standard/*.yaml "$out/"
  cp "$gw/LICENSE" "$out/LICENSE.gateway-api"
  cp "$os"/route/v1/zz_generated.crd-manifests/*routes*.crd.yaml "$out/"
  cp "$os/LICENSE" "$out/LICENSE.openshift-api"
  chmod -R u+w "$out"
  echo "sigs.k8s.io/gateway-api $GATEWAY_API_VERSION config/crd/standard (Apache-2.0)" > "$out/SOURCES"
  echo "github.com/openshift/api $OPENSHIFT_API_VERSION route/v1/zz_generated.crd-manifests (Apache-2.0)" >> "$out/SOURCES"
  touch "$out/.complete"
  mkdir -p "$(dirname "$crd_dir")"
  rm -rf "$crd_dir"; mv "$out" "$crd_dir"
}

# Quickest first: the CRDs, then etcd, then the long Kubernetes build.
[[ -f "$crd_dir/.complete" ]] || copy_crds
[[ -x "$etcd_dir/bin/etcd" ]] || build_etcd
for b in "${kube_bins[@]}"; do
  [[ -x "$kube_dir/bin/$b" ]] || { build_kubernetes; break; }
done
print_dirs
