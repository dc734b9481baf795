#!/usr/bin/env bash
# The learners on a GPU, in one go: what BENCHMARKS.md "commit 65c0e6c of 2026-12-04" reports.
#
# What it runs (every output under $OUT, at most 7 files, so that a remote runner that
# returns a few files brings them all back):
#   env.txt           nvidia-smi, Python, torch and CUDA versions, CPU model and cores
#   tests.txt         (A, concurrent with B) pytest of tests/agents -m "not ray" (CUDA
#                     visible: test_policy's device test expects cuda), then tests/league
#                     (test_ray.py left out) and tests/matchmaking -m "not ray and not
#                     atari", less the tests that need simple_tag/volleyball_pong (mpe2,
#                     ale_py: not installed there); the Trainer tests use device auto, so
#                     they train, checkpoint and resume on the GPU
#   cli.txt           (B) `league train` through the real CLI on connect four for each
#                     learner.algo (ppo, trpo, acer) x precision (float32, bfloat16), with
#                     `--set device=$DEVICE --set train.workers=0`, $ITERS iterations,
#                     a snapshot every iteration; then `league eval latest random`
#                     ($EVAL_GAMES games); six runs at a time, 2 CPU threads each
#   learner_step.jsonl  (C, alone) bench/learner_step.py on $DEVICE at minibatch 256 (the
#                     shipped config) and 4096, and on the CPU (2 threads, 3 x 5 steps) for reference
#   throughput.json   (C, alone) bench/throughput.py --workers 0 (no Ray: rollouts in the
#                     driver) for connect four, learner on $DEVICE in bfloat16
#   summary.txt       one line per check: ok / FAILED, and the figures
#   log.txt           everything the script printed
#
# How: on a machine with torch and CUDA, from the repository root (not pip-installed):
#   OUT=/some/dir bash bench/gpu_check.sh
# Missing Python packages (pettingzoo, gymnasium, pydantic, pygame-ce, sqlite-utils, ...)
# may come as wheels in .whl/: they are installed with --target /tmp/site first
# (BENCHMARKS.md, commit 65c0e6c of 2026-12-04, has the pip download command and the list).
# For a dry run on a CPU-only machine (mechanics only; figures meaningless):
#   DEVICE=cpu QUICK=1 NO_WHEELS=1 OUT=/tmp/out PY=.venv/bin/python bash bench/gpu_check.sh
# Knobs: DEVICE (cuda), PY (python3), ITERS (3), STEPS_PER_ITER (1024), EVAL_GAMES (20), QUICK (1: fewer tests,
# shorter benchmarks), XDIST (workers for the tests/league run when pytest-xdist is
# present; default 4).
set -u
OUT=${OUT:?set OUT to a folder for the results}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
ITERS=${ITERS:-3}
STEPS_PER_ITER=${STEPS_PER_ITER:-1024}
EVAL_GAMES=${EVAL_GAMES:-20}
QUICK=${QUICK:-0}
XDIST=${XDIST:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*"; }

if [ "${NO_WHEELS:-0}" != 1 ] && compgen -G ".whl/*.whl" >/dev/null; then
  stamp "installing $(ls .whl | wc -l) wheels into /tmp/site"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || { echo "wheel install failed"; exit 3; }
  export PYTHONPATH=/tmp/site:$ROOT
else
  export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
fi

{
  date -u
  nvidia-smi 2>&1 || echo "no nvidia-smi"
  $PY - <<'EOF'
import os, platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None)
print("cuda available", torch.cuda.is_available(),
      "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-",
      "bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
print("tf32 matmul", torch.backends.cuda.matmul.allow_tf32, "tf32 cudnn", torch.backends.cudnn.allow_tf32)
print("cpus", os.cpu_count(), "torch threads", torch.get_num_threads())
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        print("cpu", line.split(":", 1)[1].strip()); break
for mod in ("pettingzoo", "gymnasium", "pydantic", "pygame", "sqlite_utils", "numpy", "ray", "xdist"):
    try:
        m = __import__(mod); print(mod, getattr(m, "__version__", "?"))
    except Exception as e:
        print(mod, "MISSING", type(e).__name__)
EOF
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# ---- A: tests (background) ---------------------------------------------------------
# Need simple_tag_v3 (mpe2) or volleyball_pong_v3 (ale_py), absent on the GPU machine.
NEEDS_OTHER_GAMES=(
  "tests/league/test_config.py::test_shipped_configs_load_and_name_a_game[simple_tag]"
  "tests/league/test_config.py::test_shipped_configs_load_and_name_a_game[volleyball_pong]"
  "tests/league/test_evaluate.py::test_unknown_players_and_missing_run_are_clear_errors"
  "tests/league/test_evaluate.py::test_bad_mcts_names_and_games_mcts_cannot_search_are_clear_errors"
  "tests/league/test_fragments.py::test_a_cut_fragment_bootstraps_from_the_next_fragments_first_value[simple_tag_v3-adversary-2]"
  "tests/league/test_fragments.py::test_an_uncapped_long_game_returns_after_its_steps_not_its_episodes"
  "tests/league/test_league_agents.py::test_bad_bots_are_refused_with_the_key[simple_tag-league.bots.mcts:8=0.5-league.bots]"
  "tests/league/test_play.py::test_play_refuses_a_simultaneous_game_and_a_bad_seat[simple_tag_v3-0-turn-based games; 'simple_tag_v3' is simultaneous]"
  "tests/league/test_rollout.py::test_asymmetric_simultaneous_game_gives_one_batch_per_role_with_components"
)
run_tests() {
  local deselect=() n=()
  for t in "${NEEDS_OTHER_GAMES[@]}"; do deselect+=(--deselect "$t"); done
  if $PY -c "import xdist" 2>/dev/null && [ "$XDIST" -gt 0 ]; then n=(-n "$XDIST"); fi
  local league=(tests/league tests/matchmaking)
  [ "$QUICK" = 1 ] && league=(tests/league/test_train.py)
  echo "== pytest tests/agents -m 'not ray'"
  timeout 240 $PY -m pytest -q -p no:cacheprovider tests/agents -m "not ray" -rfE
  echo "rc_agents=$?"
  echo "== pytest ${league[*]} (less test_ray.py and ${#NEEDS_OTHER_GAMES[@]} tests of other games) ${n[*]}"
  timeout 240 $PY -m pytest -q -p no:cacheprovider "${league[@]}" \
    --ignore=tests/league/test_ray.py -m "not ray and not atari" "${deselect[@]}" "${n[@]}" \
    -rfE --durations=10
  echo "rc_league=$?"
}
stamp "A: tests start"
run_tests > "$OUT/tests.txt" 2>&1 &
TESTS_PID=$!

# ---- B: each learner x precision through the CLI (background, concurrent) --------------
RUNS=/tmp/gpu_check_runs
rm -rf "$RUNS"; mkdir -p "$RUNS"
train_eval() {  # algo precision
  local algo=$1 prec=$2 name="$1-$2" sets=()
  sets=(--set device="$DEVICE" --set precision="$prec" --set learner.algo="$algo"
        --set train.workers=0 --set train.steps_per_iteration=$STEPS_PER_ITER --set train.envs=16
        --set train.snapshot_every=1 --set train.checkpoint_every=1
        --set train.eval_every="$ITERS" --set train.eval_episodes=10)
  [ "$algo" = acer ] && sets+=(--set learner.acer.replay_start=512)
  local t=$(date +%s)
  OMP_NUM_THREADS=2 timeout 240 $PY -m league train connect_four --runs-dir "$RUNS" \
    --name "$name" --iterations "$ITERS" "${sets[@]}" --json \
    > "$RUNS/$name.train.json" 2> "$RUNS/$name.train.err"
  echo "train_rc=$? seconds=$(( $(date +%s) - t ))" > "$RUNS/$name.rc"
  OMP_NUM_THREADS=2 timeout 60 $PY -m league eval latest random --run "$RUNS/$name" \
    --games "$EVAL_GAMES" --json > "$RUNS/$name.eval.json" 2> "$RUNS/$name.eval.err"
  echo "eval_rc=$?" >> "$RUNS/$name.rc"
}
stamp "B: CLI runs start"
CLI_PIDS=()
for algo in ppo trpo acer; do
  for prec in float32 bfloat16; do
    train_eval "$algo" "$prec" &
    CLI_PIDS+=($!)
  done
done
wait "${CLI_PIDS[@]}"
stamp "B: CLI runs done"
{
  for f in "$RUNS"/*.rc; do
    name=$(basename "$f" .rc)
    echo "=== $name: $(tr '\n' ' ' < "$f")"
    echo "--- train stdout (summary JSON)"; cat "$RUNS/$name.train.json"; echo
    echo "--- train stderr (tail)"; tail -n 25 "$RUNS/$name.train.err"
    echo "--- run dir"; ls "$RUNS/$name" "$RUNS/$name"/weights 2>&1 | head -20
    echo "--- eval stdout"; cat "$RUNS/$name.eval.json"; echo
    echo "--- eval stderr (tail)"; tail -n 15 "$RUNS/$name.eval.err"
  done
} > "$OUT/cli.txt" 2>&1
wait "$TESTS_PID"
stamp "A: tests done"
tail -n 4 "$OUT/tests.txt"

# ---- C: figures, nothing else running ---------------------------------------------
STEPS=20; REPEATS=5; SECONDS_PER=8; TP_REPEATS=2
[ "$QUICK" = 1 ] && { STEPS=4; REPEATS=2; SECONDS_PER=3; TP_REPEATS=1; }
: > "$OUT/learner_step.jsonl"
for mb in 256 4096; do
  stamp "C: learner_step $DEVICE minibatch $mb"
  timeout 200 $PY bench/learner_step.py --device "$DEVICE" --steps $STEPS --repeats $REPEATS \
    --set learner.ppo.minibatch_size=$mb | $PY -c "import json,sys; print(json.dumps(json.load(sys.stdin)))" \
    >> "$OUT/learner_step.jsonl" || echo "learner_step $DEVICE $mb FAILED"
done
stamp "C: learner_step cpu minibatch 256 (reference)"
timeout 150 $PY bench/learner_step.py --device cpu --steps 5 --repeats 3 \
  | $PY -c "import json,sys; print(json.dumps(json.load(sys.stdin)))" \
  >> "$OUT/learner_step.jsonl" || echo "learner_step cpu FAILED"
stamp "C: throughput (workers 0, learner on $DEVICE)"
timeout 240 $PY bench/throughput.py --workers 0 --games connect_four_v3 --repeats $TP_REPEATS \
  --seconds $SECONDS_PER --no-async --set device="$DEVICE" --set precision=bfloat16 \
  --out "$OUT/throughput.json" > /dev/null || echo "throughput FAILED"
stamp "C: done"

# ---- summary ----------------------------------------------------------------------
$PY - "$OUT" "$RUNS" <<'EOF' | tee "$OUT/summary.txt"
import json, re, sys
from pathlib import Path
out, runs = Path(sys.argv[1]), Path(sys.argv[2])
tests = (out / "tests.txt").read_text() if (out / "tests.txt").exists() else ""
for tag in ("rc_agents", "rc_league"):
    m = re.search(rf"{tag}=(\d+)", tests)
    print(f"tests {tag}: {'ok' if m and m.group(1) == '0' else 'FAILED'} ({m.group(1) if m else 'no rc'})")
for line in re.findall(r"^=*\s*(\d+ (?:passed|failed).*?)\s*=*$", tests, re.M):
    print("  pytest:", line)
for rc in sorted(runs.glob("*.rc")):
    name, text = rc.stem, rc.read_text()
    ok = "train_rc=0" in text and "eval_rc=0" in text
    line = f"cli {name}: {'ok' if ok else 'FAILED'} [{' '.join(text.split())}]"
    try:
        s = json.loads((runs / f"{name}.train.json").read_text())
        snaps = len(list((runs / name / "weights").glob("*.safetensors")))
        line += (f" learner={s.get('learner')} seconds={s.get('seconds')} device={s.get('device')} precision={s.get('precision')} iterations={s.get('iterations')}"
                 f" env_steps={s.get('env_steps')} snapshot_weight_files={snaps} snapshots={s.get('snapshots')}")
        e = json.loads((runs / f"{name}.eval.json").read_text())
        line += f" eval {e['a']} vs random: score {e['score']:.2f} over {e['games']} games"
    except Exception as exc:
        line += f" ({type(exc).__name__}: {exc})"
    print(line)
ls = out / "learner_step.jsonl"
for row in (ls.read_text().splitlines() if ls.exists() else []):
    r = json.loads(row)
    print(f"learner_step {r['device']} ({r['device_name']}) mb {r['minibatch_size']}: "
          f"ms/step {r['ms_per_step_median']} bf16 speed-up {r['speed-up']}")
tp = out / "throughput.json"
if tp.exists():
    r = json.loads(tp.read_text())
    print("throughput machine:", r["machine"])
    for game, g in r["games"].items():
        print(f"throughput {game}:", {k: round(v) for k, v in g["median_env_steps_per_s"].items()},
              "stages", {k: round(v, 3) for k, v in g["stage_seconds_sync"].items()})
else:
    print("throughput: FAILED (no throughput.json)")
EOF
stamp "all done"
