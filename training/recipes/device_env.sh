# Sourced, from the repository root, by the scripts that run on a lent GPU machine (benchmarks/gpu.sh,
# training/runs_record/run36/run.sh): `source training/recipes/device_env.sh WHEELS_DIR`. The machine has torch,
# transformers and accelerate but not diffusers or soundfile: the wheels in WHEELS_DIR (if any) are installed to
# /tmp/site without an index, and tclap_gen is made importable from a copy in /tmp/pkg (pipelines/, training/ and
# samples/ become tclap_gen.pipelines, ...), with no pip install. Run Python with -P there, so that the repo's own
# tclap_gen (which has no pipelines/) does not shadow /tmp/pkg.
if compgen -G "$1/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site "$1"/*.whl || return 4
fi
rm -rf /tmp/pkg && mkdir -p /tmp/pkg && cp -r tclap_gen /tmp/pkg/tclap_gen
for sub in pipelines training samples; do
  rm -rf "/tmp/pkg/tclap_gen/$sub" && cp -r "$sub" "/tmp/pkg/tclap_gen/$sub"
done
export PYTHONPATH=/tmp/pkg:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
