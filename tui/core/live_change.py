"""Changing a run in progress: a new learning rate, patience or number of epochs.

A change travels through the run folder, like everything between a worker and its readers:

- `request` (the `torchtui change` command, and the screen's dialog) checks it against the run
  and writes `RUN_DIR/change.json` atomically. A user may write that file by hand too:
  `{"lr": 0.001, "patience": 5, "epochs": 40, "step": 1200, "id": "any text"}`, every key
  optional but one of lr, patience, epochs. `step`: apply it at the first step boundary at or
  after that step (without it: the next boundary), which makes a change repeatable.
- The worker (`Changes`, held by the Trainer) looks for the file only where it already does
  occasional work - when it logs a step (a few times a second), at the start, and while
  paused - so the loop pays nothing per step. At the boundary it applies the change, writes a
  `change` event (synced) and removes the file. Under DDP rank 0 alone reads the folder and
  shares the change at the ranks' next agreement (train.py `_agree`); every rank applies it at
  the same boundary, so their optimizers keep the same rate. A change it cannot apply (epochs below the
  epoch in progress, say) is a `change` event with `refused` and changes nothing.
- Every checkpoint stores the changes applied so far (`changes`); a resume replays the log's
  `change` events that its checkpoint does not hold at their steps, so a run killed after a
  change and resumed ends with the weights of the run never stopped (torch.equal).

The learning rate with a schedule: the rate becomes the new one at once, and every rate the
schedule gives from then on is scaled by new / old - its base rates (and one-cycle's peak and
floor) are scaled with the optimizer's rate, so step, cosine and one-cycle keep their shape
and plateau keeps dropping from the new rate. Epochs cannot change under cosine or one-cycle:
those schedules are fixed to their length. Patience counts the epochs without improvement
already seen: lowering it below them stops the run at the end of the epoch in progress.

Plain Python (no torch): the console command imports it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from .errors import UserError
from .files import atomic_write
from .spec import Spec

REQUEST = "change.json"  # in the run folder
VALUES = ("lr", "patience", "epochs")
KEYS = (*VALUES, "step", "id")
FIXED_LENGTH = ("cosine", "onecycle")  # schedules built for a number of epochs
NEVER = 1 << 62  # the step of no pending change


@dataclass(frozen=True)
class Change:
    lr: float | None = None
    patience: int | None = None
    epochs: int | None = None
    step: int | None = None  # apply at the first step boundary at or after this step; None: the next one
    id: str = ""
    replayed: bool = False  # re-applied by a resume from the log (not from a request file)

    def values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in VALUES if getattr(self, k) is not None}

    def describe(self) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in self.values().items())

    def to_file(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in KEYS if getattr(self, k) not in (None, "")}

    @classmethod
    def from_file(cls, raw: Any, source: str) -> "Change":
        """A request as read from change.json: plain JSON, every value checked for its type."""
        if not isinstance(raw, dict):
            raise UserError(f"{source}: expected a JSON object such as {{\"lr\": 0.001}}, got {raw!r}")
        unknown = [k for k in raw if k not in KEYS]
        if unknown:
            raise UserError(f"{source}: unknown key {unknown[0]!r}; the keys are {', '.join(KEYS)}")
        out: dict[str, Any] = {}
        for key in ("patience", "epochs", "step"):
            value = raw.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise UserError(f"{source}: {key} must be an integer, got {value!r}")
            out[key] = value
        lr = raw.get("lr")
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
            raise UserError(f"{source}: lr must be a number, got {lr!r}")
        out["lr"] = float(lr) if lr is not None else None
        if not isinstance(raw.get("id", ""), str):
            raise UserError(f"{source}: id must be a string, got {raw['id']!r}")
        return cls(**out, id=raw.get("id", ""))


def check(spec: Spec, change: Change, epochs_done: int) -> Spec:
    """The spec as `change` leaves it, checked by the spec itself; a UserError naming the value and
    the fix when the change cannot apply. The epoch in progress (`epochs_done + 1`) always finishes."""
    values = change.values()
    if not values:
        raise UserError("nothing to change: give a new --lr, --patience or --epochs")
    t = spec.train
    if change.epochs is not None:
        if change.epochs != t.epochs and t.scheduler in FIXED_LENGTH:
            raise UserError(f"a {t.scheduler} schedule is fixed to its {t.epochs} epochs: epochs cannot change "
                            f"in this run (the learning rate and patience can)")
        if change.epochs <= epochs_done:
            raise UserError(f"epochs {change.epochs} is below the epoch in progress ({epochs_done + 1}), which always "
                            f"finishes; give {epochs_done + 1} or more")
    if change.step is not None and change.step < 0:
        raise UserError(f"step must be an integer >= 0, got {change.step}")
    return spec.with_overrides({f"train.{k}": v for k, v in values.items()})


def live_spec(spec: Spec, changes: Iterable[dict[str, Any]]) -> Spec:
    """`spec` with the values of the changes applied to it, in order."""
    overrides = {f"train.{k}": c[k] for c in changes for k in VALUES if c.get(k) is not None}
    return spec.with_overrides(overrides) if overrides else spec


def running_spec(spec: Spec, state: Any) -> Spec:
    """The spec a run trains with now: its spec.toml (`spec`) with the changes its log (RunState `state`)
    shows applied; the epochs as its latest start and changes say (a resume's --epochs included)."""
    spec = live_spec(spec, state.changes)
    epochs = state.start.get("epochs")
    return spec.with_overrides({"train.epochs": epochs}) if epochs and epochs != spec.train.epochs else spec


def describe(event: dict[str, Any], short: bool = False) -> str:
    """A `change` event's values: 'lr 0.01 -> 0.001, patience 3, epochs 40', or for a chart's marker
    'lr 0.001 pat 3 ep 40'."""
    names = {"lr": "lr", "patience": "pat", "epochs": "ep"} if short else {}
    parts = []
    for key in VALUES:
        if event.get(key) is None:
            continue
        before = f"{event['lr_from']:g} -> " if key == "lr" and event.get("lr_from") is not None and not short else ""
        parts.append(f"{names.get(key, key)} {before}{event[key]:g}")
    return (" " if short else ", ").join(parts)


# ---- asking (the console and the screen) ----------------------------------------------------------
def request(run_dir: str | Path, change: Change, state: Any = None) -> Change:
    """Ask the run training in `run_dir` for `change`: checked against the run, then written to
    RUN_DIR/change.json atomically. `state`: the run's RunState when the caller follows it already
    (the screen), else the log is read. Returns the change as written (with its id)."""
    from .follow import read_run
    from .runs import RunFolder

    folder = RunFolder.open(run_dir)
    check(folder.spec(), change, 0)  # the values themselves first: a bad one is said whatever the run does
    if state is None:
        state, _ = read_run(folder.path)
    if not (state.running and state.alive()):
        status = state.status.replace("_", " ") if state.start else "not started"
        raise UserError(f"{folder.path} is not training ({status}): a change applies to a run in progress; "
                        f"to train a stopped run longer, `torchtui resume {folder.path} --epochs N`")
    path = folder.path / REQUEST
    if path.exists():
        raise UserError(f"a change is already waiting in {path}: wait for the worker's `change` event, "
                        f"or delete the file")
    after = check(running_spec(folder.spec(), state), change, state.epoch_done)
    per_epoch = state.start.get("steps_per_epoch")
    if change.step is not None and per_epoch:
        # the step the run ends at (as its ETA counts it): a change asked for later never applies, and its request
        # file kept every later change waiting ("a change is already waiting")
        last = max(after.train.epochs * per_epoch, state.last_step.get("step") or 0)
        if change.step > last:
            raise UserError(f"step {change.step} is past the run's end (at most step {last}: {after.train.epochs} "
                            f"epochs of {per_epoch} steps): the change would never apply; give a step up to {last}, "
                            "or no --at-step for the next one")
    change = replace(change, id=change.id or uuid.uuid4().hex[:12])
    atomic_write(path, lambda f: f.write(json.dumps(change.to_file()).encode("utf-8")))
    return change


# ---- the worker's side ------------------------------------------------------------------------------
@dataclass
class Changes:
    """The changes of a run in the worker: the request file found, changes waiting for their step,
    and the ones applied (stored in every checkpoint)."""

    applied: list[dict[str, Any]] = field(default_factory=list)  # {"id", "epoch", "step", values...}
    pending: list[Change] = field(default_factory=list)  # by step
    next_step: int = NEVER  # the step of the first pending change: the loop compares it with its step
    _seen: tuple = ()  # (size, mtime, inode) of the request file last read

    def schedule(self, change: Change, now: int) -> None:
        if any(c.id == change.id for c in self.pending):
            return
        self.pending.append(replace(change, step=now if change.step is None else change.step))
        self.pending.sort(key=_step)
        self.next_step = _step(self.pending[0])

    def due(self, now: int) -> list[Change]:
        """The pending changes whose step has come, taken off the list."""
        due = [c for c in self.pending if _step(c) <= now]
        self.pending = [c for c in self.pending if _step(c) > now]
        self.next_step = _step(self.pending[0]) if self.pending else NEVER
        return due

    def look(self, folder: Path | None, now: int, schedule: bool = True) -> Change | UserError | None:
        """A new request in `folder` (a stat, and a read when the file is new): scheduled (unless `schedule` is
        False: several processes schedule it together, once rank 0 has shared it), and returned; a file that is
        not a valid request is removed and returned as the UserError saying why."""
        if folder is None:
            return None
        path = folder / REQUEST
        try:
            st = os.stat(path)
            seen = (st.st_size, st.st_mtime_ns, st.st_ino)
            if seen == self._seen:
                return None
            data = path.read_bytes()
        except OSError:  # no request (or it went away while being read)
            return None
        self._seen = seen
        try:
            change = Change.from_file(json.loads(data), str(path))
        except (ValueError, UserError) as e:
            path.unlink(missing_ok=True)
            reason = str(e) if isinstance(e, UserError) else f"{path} is not JSON ({e})"
            return UserError(reason)
        if not change.id:  # written by hand: named by its bytes and time, so a resume knows it again
            change = replace(change, id="file-" + hashlib.sha1(data + str(st.st_mtime_ns).encode()).hexdigest()[:12])
        if any(c["id"] == change.id for c in self.applied) or any(c.id == change.id and c.replayed
                                                                    for c in self.pending):
            path.unlink(missing_ok=True)  # applied before a kill left the file behind: a resume has it already
            return None
        if schedule:
            self.schedule(change, now)
        return change

    def consume(self, folder: Path | None, change: Change) -> None:
        """Remove the request file once its change is applied (or refused); a replay has none."""
        if folder is None or change.replayed:
            return
        path = folder / REQUEST
        try:
            if Change.from_file(json.loads(path.read_bytes()), str(path)).id in (change.id, ""):
                path.unlink()
        except (OSError, ValueError, UserError):
            pass


def _step(change: Change) -> int:
    return change.step if change.step is not None else 0


def set_lr(optimizer: Any, scheduler: Any, lr: float) -> None:
    """The optimizer's rate becomes `lr` now, and the schedule's later rates scale with it (new / old):
    its base rates, and one-cycle's peak and floor, which it computes every rate from."""
    factors = []
    for group in optimizer.param_groups:
        old = group["lr"]
        factor = lr / old if old > 0 else 1.0
        group["lr"] = lr
        for key in ("initial_lr", "max_lr", "min_lr"):
            if key in group:
                group[key] = group[key] * factor
        factors.append(factor)
    if scheduler is None:
        return
    if getattr(scheduler, "base_lrs", None) is not None:
        scheduler.base_lrs = [base * f for base, f in zip(scheduler.base_lrs, factors)]
    if getattr(scheduler, "_last_lr", None) is not None:
        scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def resume_changes(ckpt: dict[str, Any] | None, logged: list[dict[str, Any]],
                   epochs_given: bool) -> tuple[list[dict[str, Any]], list[Change]]:
    """What a resume carries on with: the changes its checkpoint holds, and those the log holds
    beyond it (applied after the checkpoint was saved), to replay at their steps. `--epochs`
    given to the resume sets the total: the changes' epochs no longer count."""
    applied = [dict(c) for c in (ckpt or {}).get("changes", [])]
    held = {c["id"] for c in applied}
    replay = [Change(lr=e.get("lr"), patience=e.get("patience"), epochs=e.get("epochs"), step=e["step"],
                     id=e["id"], replayed=True)
              for e in logged if e["id"] not in held and not e.get("refused")]
    if epochs_given:
        for c in applied:
            c.pop("epochs", None)
        replay = [replace(c, epochs=None) for c in replay]
        replay = [c for c in replay if c.values()]
    return applied, replay
