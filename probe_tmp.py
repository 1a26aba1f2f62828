import os, tempfile, statistics, logging
logging.disable(logging.WARNING)
os.environ["OPTRACK_SPOOL_DIR"] = tempfile.mkdtemp()
import optrack
from bench.sdk import loop_seconds
res = {"none": [], "offline": [], "disabled": []}
for r in range(5):
    res["none"].append(loop_seconds(2000, None))
    run = optrack.init(mode="offline", name="x"); res["offline"].append(loop_seconds(2000, run)); run.finish()
    run = optrack.init(mode="disabled"); res["disabled"].append(loop_seconds(2000, run))
print({k: round(statistics.median(v), 3) for k, v in res.items()})
