#!/usr/bin/env bash
# CUDA checks for the core engine, run by hand on a GPU machine (CI has none):
#   bash tests/device/cuda_check.sh
# Uses the machine's python3 with torch; the repo is put on PYTHONPATH (no install needed).
set -u
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
R=$(mktemp -d)
py() { python3 "$@"; }
echo "== environment"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
py -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.device_count())"

echo "== 1. auto picks the GPU and says which; iris reaches >= 0.9"
py -m tui run --dataset iris --layers "Linear(32), ReLU()" --epochs 40 --runs-dir $R --name iris | grep -E "^train:|^done"
py -c "import torch; c=torch.load('$R/iris/best.pt', weights_only=True); print('best.pt tensors on', {t.device.type for t in c['model'].values()})"

echo "== 2. a GPU that does not exist is refused (exit 2, one line)"
py -m tui run --dataset iris --device cuda:7 --runs-dir $R; echo "exit $?"

echo "== 3. digits Conv2d on cuda, eval and predict on the CPU from the GPU checkpoint"
py -m tui run --dataset digits --layers "Unflatten(1, (1, 8, 8)), Conv2d(16, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(64), ReLU()" --epochs 8 --device cuda --runs-dir $R --name digits | grep -E "^epoch +8|^done"
py -m tui eval $R/digits/best.pt tui/../datasets/digits.csv | head -2
head -c 0 /dev/null; py -c "
import pandas as pd; df = pd.read_csv('datasets/digits.csv').drop(columns=['digit']).head(5); df.to_csv('$R/d5.csv', index=False)"
py -m tui predict $R/digits/best.pt $R/d5.csv | cut -c1-40

echo "== 4. same seed twice on cuda: identical weights? resume on cuda exact?"
for n in a b; do py -m tui run --dataset wine --epochs 4 --device cuda --runs-dir $R --name w$n --json > /dev/null; done
py -m tui run --dataset wine --epochs 2 --device cuda --runs-dir $R --name wr --json > /dev/null
py -m tui resume $R/wr --epochs 4 --json > /dev/null
py -c "
import torch
l = lambda n: torch.load('$R/'+n+'/last.pt', weights_only=True)['model']
a, b, r = l('wa'), l('wb'), l('wr')
print('repeat identical:', all(torch.equal(a[k], b[k]) for k in a), '| resume identical:', all(torch.equal(a[k], r[k]) for k in a))"

echo "== 5. divergence on cuda stops with exit 1"
py -m tui run --dataset diabetes --optimizer SGD --lr 1e9 --epochs 3 --device cuda --runs-dir $R --name nan > /dev/null; echo "exit $?"

echo "== 6. throughput on cuda (samples/s; same data and model as the CPU benchmark)"
py tests/bench/throughput.py --device cuda --repeats 2 --epochs 2

echo "== 7. a Dataset class on cuda: DataLoader with 2 workers and pinned memory; same weights as the CSV path?"
cat > $R/my_rows.py <<'PY'
import torch
from torch.utils.data import Dataset
class Rows(Dataset):
    def __init__(self, file):
        t = torch.load(file, weights_only=True)
        self.x, self.y = t["x"], t["y"]
    def __getitem__(self, i):
        return self.x[i], self.y[i]
    def __len__(self):
        return len(self.x)
PY
py -c "
import torch
from tui.core.data import prepare, split_indices
from tui.core.spec import DataSpec
d = prepare(DataSpec(dataset='wine'), 0); tr, va = split_indices(178, 0.2, 0)
x, y = torch.zeros(178, 13), torch.zeros(178, dtype=torch.long)
x[tr], y[tr], x[va], y[va] = d.x_train, d.y_train, d.x_val, d.y_val
torch.save({'x': x, 'y': y}, '$R/wine.pt')"
(cd $R && py -m tui run --dataset my_rows:Rows --dataset-arg $R/wine.pt --workers 2 --device cuda --epochs 4 --runs-dir $R --name ds --json > /dev/null; echo "exit $?")
py -m tui run --dataset wine --device cuda --epochs 4 --runs-dir $R --name csv --json > /dev/null
py -c "
import torch
a = torch.load('$R/ds/last.pt', weights_only=True)['model']; b = torch.load('$R/csv/last.pt', weights_only=True)['model']
print('Dataset path == CSV path on cuda:', all(torch.equal(a[k], b[k]) for k in a))"

echo "== 8. a messy CSV on cuda: semicolons, decimal commas, a metadata line, blanks imputed"
py -c "
import pandas as pd, numpy as np
df = pd.read_csv('datasets/wine.csv'); df.iloc[::17, 2] = np.nan
with open('$R/messy.csv', 'w') as f:
    f.write('exported by LabTool\n'); df.to_csv(f, sep=';', decimal=',', index=False)"
py -m tui run --dataset $R/messy.csv --missing impute --device cuda --epochs 10 --runs-dir $R --name messy | grep -E "note: read|filled|^done"
