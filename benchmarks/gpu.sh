#!/usr/bin/env bash
# The GPU checks in one run, for a lent GPU machine that has torch and no network (TensorFlow is
# not there): the suite's torch leg with new tensors on the GPU, the GPU-only tests, and the
# benchmarks with --device gpu. Results go to $OUT (default /tmp/gpu-out): tests.log,
# bench-gpu-*.json and bench.log. Each part has a time limit, so one that hangs does not take the
# rest; `bash benchmarks/gpu.sh mlp tests` runs only those parts.
#
# The packages it needs and the machine lacks travel as wheels in .whl/ (git-ignored): bridge's own
#   pip wheel --no-deps -w .whl . plugins/torch
# and Keras 3 for its contenders (cp312: the machine's Python):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
#       -d .whl keras==3.15.1 namex optree
# Keras goes on the path of the benchmarks only: the suite would run its TensorFlow references too.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 CI=true
# torch 2.11's inductor fails an assertion (FusedSchedulerNode.reorder_loops_by_dep_pair) compiling
# bridge's whole MLP step for CUDA; torch 2.13 returns False there instead. Off for every contender.
export TORCHINDUCTOR_LOOP_ORDERING_AFTER_FUSION=0
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/bridge*.whl
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/keras .whl/{keras,namex,optree}*.whl
# The working tree's code first; the installed wheels give the entry points (backends, pytest plugin).
export PYTHONPATH="$PWD:$PWD/plugins/torch:/tmp/site"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, bridge as br; print('torch', torch.__version__, '| bridge devices', br.devices())"

parts=${*:-gpu-tests mlp tests others}
for part in $parts; do
    case $part in
    gpu-tests)  # the GPU-only tests and the whole-step compilation tests
        timeout "${GPU_TESTS_S:-300}" python3 -m pytest -q -p no:cacheprovider -rs tests/test_gpu_torch.py \
            tests/test_jit_whole_step.py >"$OUT/tests-gpu.log" 2>&1
        echo "GPU-only tests: exit $?"
        grep -E "^(FAILED|ERROR|SKIPPED)|^E  |passed|failed" "$OUT/tests-gpu.log" | tail -n 30 ;;
    tests)  # the torch leg, new tensors on the GPU
        timeout "${TESTS_S:-150}" python3 -m pytest -n 12 --dist loadfile -m "not slow" -p no:cacheprovider \
            -v >"$OUT/tests.log" 2>&1
        echo "torch leg: exit $?"
        grep -E "(FAILED|ERROR) tests|passed|failed" "$OUT/tests.log" | grep -v "PASSED" | tail -n 40 ;;
    mlp)  # every contender; Keras only here, on the benchmarks' path
        PYTHONPATH="$PYTHONPATH:/tmp/keras" timeout "${MLP_S:-240}" python3 benchmarks/train.py --device gpu \
            --models mlp --rounds 5 --steps 20 --json "$OUT/bench-gpu-mlp.json" 2>>"$OUT/bench.log"
        echo "mlp: exit $?" ;;
    others)  # eager contenders and the native CUDA graph
        PYTHONPATH="$PYTHONPATH:/tmp/keras" timeout "${OTHERS_S:-150}" python3 benchmarks/train.py \
            --device gpu --models cnn transformer lstm --rounds 5 --steps 20 --contenders "torch | eager" \
            "cuda graph" --json "$OUT/bench-gpu-others.json" 2>>"$OUT/bench.log"
        echo "cnn, transformer, lstm: exit $?" ;;
    *) echo "unknown part $part (gpu-tests, mlp, tests, others)"; exit 2 ;;
    esac
done
