#!/usr/bin/env bash
# Encodes fuzz/proto_seeds/*.txtpb (protobuf text format) into fuzz_proto's seed corpus: one
# byte for the message kind (place-* 0, predict-* 1, fleet-* 2; see fuzz_proto.cc) and then
# the message's wire encoding. Run after changing a seed or the protos.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus/fuzz_proto
mkdir -p "$out"
for f in fuzz/proto_seeds/*.txtpb; do
  name=$(basename "$f" .txtpb)
  case "$name" in
    place-*) kind='\x00' message=gpufit.v1.PlaceRequest ;;
    predict-*) kind='\x01' message=gpufit.v1.PredictRequest ;;
    fleet-*) kind='\x02' message=gpufit.v1.PlanFleetRequest ;;
    *) echo "make_proto_seeds: $f: name must start with place-, predict- or fleet-" >&2; exit 1 ;;
  esac
  { printf "$kind"; protoc -I proto --encode="$message" gpufit/v1/placement_service.proto <"$f"; } \
    >"$out/$name.bin"
done
ls -l "$out"
