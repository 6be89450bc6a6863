"""Built-in datasets, by name: small real CSVs shipped with the package, and synthetic sets.

The real files live in the repository's top-level `datasets/` folder, which a wheel installs
as `tui/datasets/`; both places are looked up, so a name works from any working directory,
from a source checkout or editable install, and after a non-editable install. Synthetic sets
are generated from the run's seed, so a spec names them completely.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .spec import Spec


@dataclass(frozen=True)
class BuiltIn:
    name: str
    task: str
    description: str
    file: str | None = None
    generate: str | None = None  # the generator's name in synthetic.py
    keep_constant: bool = False  # images: a pixel that is always 0 still has its place in the grid

    def frame(self, seed: int = 0) -> pd.DataFrame:
        if self.file is not None:
            import pandas as pd

            return pd.read_csv(data_dir() / self.file)
        assert self.generate is not None
        from . import synthetic

        return getattr(synthetic, self.generate)(seed)


_PACKAGE = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """tui/datasets in an installed wheel, or datasets/ beside tui/ in a source checkout."""
    for candidate in (_PACKAGE / "datasets", _PACKAGE.parent / "datasets"):
        if (candidate / "iris.csv").is_file():
            return candidate
    raise FileNotFoundError(f"built-in datasets not found beside {_PACKAGE}; reinstall torchtui")


BUILTINS: dict[str, BuiltIn] = {
    b.name: b
    for b in [
        BuiltIn("iris", "classification", "Fisher's iris flowers: 4 measurements, 3 species", file="iris.csv"),
        BuiltIn("wine", "classification", "Italian wines: 13 chemical measurements, 3 cultivars", file="wine.csv"),
        BuiltIn("breast_cancer", "classification",
                "Wisconsin diagnostic breast cancer: 30 cell-nucleus features, benign or malignant",
                file="breast_cancer.csv"),
        BuiltIn("digits", "classification",
                "8x8 handwritten digits (64 pixels, 0-16), 10 classes; Unflatten(1, (1, 8, 8)) for Conv2d",
                file="digits.csv", keep_constant=True),
        BuiltIn("diabetes", "regression", "diabetes progression one year on, from 10 baseline measurements",
                file="diabetes.csv"),
        BuiltIn("spiral", "classification", "synthetic: 3 interleaved spiral arms, 900 points", generate="spiral"),
        BuiltIn("moons", "classification", "synthetic: two interleaving half circles, 1000 points", generate="moons"),
        BuiltIn("circles", "classification", "synthetic: a circle inside a circle, 1000 points", generate="circles"),
        BuiltIn("xor", "classification", "synthetic: sign of x1 * x2, 1000 points", generate="xor"),
        BuiltIn("sine", "regression", "synthetic: y = sin(x) + noise, 1000 points", generate="sine"),
    ]
}


def is_data_file(dataset: str) -> bool:
    """A dataset that is a file of the user's: neither a built-in set's name nor a Dataset class (module:Class).
    Only such a dataset has a file format to set, and a place it can move from."""
    from .user_dataset import is_class_path  # (torch: only once a dataset is asked about)

    return dataset not in BUILTINS and not is_class_path(dataset)


def with_absolute_paths(spec: Spec) -> Spec:
    """File paths made absolute, so `resume` (and an exported script) works from any directory; built-in names and
    module:Class names stay as given."""
    paths: dict[str, Any] = {}
    if spec.data.dataset not in BUILTINS and Path(spec.data.dataset).exists():
        paths["data.dataset"] = str(Path(spec.data.dataset).resolve())
    for key in ("test", "val"):
        if getattr(spec.data, key):
            paths[f"data.{key}"] = str(Path(getattr(spec.data, key)).resolve())
    if any(Path(arg).exists() for arg in spec.data.dataset_args):  # a Dataset class's file arguments
        paths["data.dataset_args"] = [str(Path(a).resolve()) if Path(a).exists() else a for a in spec.data.dataset_args]
    return spec.with_overrides(paths) if paths else spec
