#!/bin/sh
# Builds the open-source KFP backend's per-task programs (driver, launcher-v2) at one version
# from the Go module proxy into OUT (cached: nothing is done when both binaries exist).
# `go install ...@tag` refuses the repository's root module (it has replace directives), so a
# throwaway wrapper module requires the root, api and kubernetes_platform modules at the same
# commit and copies the root's exclude line. No KFP source is kept in this checkout.
# Usage: build_kfp.sh VERSION COMMIT OUT
set -eu
version=$1 commit=$2 out=$3
if [ -x "$out/driver" ] && [ -x "$out/launcher-v2" ]; then exit 0; fi
command -v go >/dev/null || { echo "make kfp-backend: Go is needed to build KFP $version's driver and launcher" >&2; exit 1; }
src=$out/wrapper
mkdir -p "$src"
cat > "$src/go.mod" <<MOD
module kfpbackend

go 1.23

exclude github.com/mitchellh/osext v0.0.0-20151018003038-5e2d6d41470f
MOD
cd "$src"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
go get "github.com/kubeflow/pipelines@$commit" \
       "github.com/kubeflow/pipelines/api@$commit" \
       "github.com/kubeflow/pipelines/kubernetes_platform@$commit"
for prog in driver launcher-v2; do
  go build -trimpath -o "$out/$prog.tmp" "github.com/kubeflow/pipelines/backend/src/v2/cmd/$prog"
  mv "$out/$prog.tmp" "$out/$prog"
done
echo "KFP $version ($commit): $out/driver $out/launcher-v2"
