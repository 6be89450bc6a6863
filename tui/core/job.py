"""A whole run, start to end: spec -> data + model -> train loop -> events + checkpoints -> run folder.

`run` and `resume` are what `torchtui run` / `torchtui resume` (and the screen's worker) call.
Everything a user can get wrong is checked in `plan` - device first, then data, loss and
layers - before a run folder is created, so a refused run leaves nothing behind.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from . import checkpoint, devices, distributed, layers, live_change, precision, record, val_predictions
from .data import Prepared, explain_inputs, fingerprint_differs, prepare, read_csv, read_options
from .datasets import is_data_file, with_absolute_paths
from .errors import Interrupted, TrainingFailed, UserError
from .follow import read_run
from .objective import Objective, evaluate, task_metrics
from .optim import fused_optimizer, state_copies
from .predict import Predictor
from .preprocess import reading_of
from .reader import Reading
from .record import Emit, Recorder
from .runs import FolderGone, RunFolder, release_held
from .spec import DATA_FILE_FIELDS, DATA_FILE_NAMES, Spec, spec_field
from .train import EVAL_BATCH, Outcome, Trainer


@dataclass
class Plan:
    spec: Spec
    device: devices.Device
    data: Prepared
    objective: Objective
    stack: layers.Stack


def plan(spec: Spec, recorder: Recorder | None = None, world: distributed.World = distributed.SINGLE,
         reading: Reading = Reading()) -> Plan:
    """Everything checked and prepared; the plan's spec has its thread count resolved (what spec.toml stores).
    In a run of several processes each rank plans alike, on its own GPU (LOCAL_RANK) when on CUDA."""
    threads = devices.use_threads(spec.train.threads)
    if threads != spec.train.threads:
        spec = spec.with_overrides({"train.threads": threads})
    device = devices.resolve(spec.train.device)  # before any data is read
    if world.launched:
        if device.type == "cuda":
            device = devices.resolve(f"cuda:{world.local_rank}")
        if spec.train.on_nan == "skip" and world.size > 1:
            raise UserError("--on-nan skip decides per process, which several processes cannot share; "
                            "use --on-nan stop (the default) with --nproc-per-node")
    progress = (lambda message: recorder.write(record.loading(message))) if recorder else None
    warm = threading.Thread(target=_import_optimizers, daemon=True)
    warm.start()  # overlaps with reading the data: the parser runs without the GIL
    try:
        data = prepare(spec.data, spec.train.seed, progress, reading)
    finally:  # also when the data is refused: a process that exits mid-import aborts (SIGABRT, not exit 2)
        warm.join()
    cpus = devices.usable_cpus()
    if device.type == "cpu" and threads > cpus:  # kept (a run's arithmetic depends on it), but said
        data.notices.append(f"warning: {threads} threads on the {cpus} CPUs this process may use: a step waits on "
                            f"threads that share a core, slower than with --threads {cpus}")
    try:  # a refusal from here on shows the data's notes, and a layer's names the columns left out
        objective = Objective.for_data(spec.train.loss, data.pre)
        stack = layers.resolve(spec.model.layers, data.input_shape, objective.n_outputs,
                               copies=2 + state_copies(spec.train))
        _refuse_single_row_batches(stack, data.n_train, spec.train.batch_size, world.size)
        if spec.data.test:  # a bad test file is found now, not after the whole training
            test = read_csv(spec.data.test, read_options(spec.data, reading))
            answerable = data.pre.answerable(test, spec.data.test, scored=False)  # (--missing drop: the rows it can)
            data.pre.transform_x(answerable.read, spec.data.test, answerable.rows)
    except UserError as e:
        raise explain_inputs(e, data).with_notes(data.notices) from None
    return Plan(spec, device, data, objective, stack)


def _import_optimizers() -> None:
    """The first optimizer a process builds imports torch._dynamo: about a second, paid here in the background."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def run(spec: Spec, emit: Emit, on_trainer: Callable[[Trainer], None] | None = None) -> tuple[Outcome, RunFolder]:
    """`on_trainer` receives the trainer before it starts, e.g. to route a signal to its requests."""
    world = distributed.from_env()  # torchrun's variables: one rank of several processes, else a world of one
    spec = with_absolute_paths(spec).with_overrides({"run.processes": _processes(world)})
    recorder = Recorder(emit, is_main=world.is_main)
    p = plan(spec, recorder, world)
    distributed.start(world, p.device.type)
    failed = True
    try:
        trainer = _new_trainer(p, recorder, world=world)
        folder = recorder.folder = _create_folder(p, world)  # only once nothing the user gave can fail
        if on_trainer:  # after: a stop while the folder is refused ends the process, not only asks the trainer
            on_trainer(trainer)
        outcome = _train(trainer, p)
        failed = False
        return outcome, folder
    finally:
        distributed.finish(world, failed)
        release_held()


def _processes(world: distributed.World) -> str:
    """What spec.toml records as run.processes: the processes on this machine that train this run now."""
    return os.environ.get("LOCAL_WORLD_SIZE", str(world.size)) if world.launched else "1"


def _create_folder(p: Plan, world: distributed.World) -> RunFolder:
    """The run folder, made by rank 0 alone; every rank learns its path (or rank 0's refusal)."""
    made: tuple[str, str] = ("", "")
    created: RunFolder | None = None
    if world.is_main:
        try:
            created = RunFolder.create(p.spec, p.data.name)
            made = (str(created.path), "")
        except UserError as e:
            made = ("", str(e))
    path, refused = distributed.broadcast(made, world)
    if refused:
        raise UserError(refused)
    return created or RunFolder(path)  # (rank 0's: the folder it holds, which it follows if moved)


def resume(run_dir: str | Path, emit: Emit, epochs: int | None = None,
           on_trainer: Callable[[Trainer], None] | None = None,
           moved: dict[str, str] | None = None) -> tuple[Outcome, RunFolder]:
    """Continue a run from last.pt; a run stopped before its first checkpoint starts again in its folder.
    Under torchrun every rank resumes from the same folder; rank 0 alone writes it. `moved`: where the run's data
    files are now ({"data.dataset": path}, likewise data.val and data.test), when they moved since it started."""
    world = distributed.from_env()
    folder = RunFolder.open(run_dir)
    folder.check_writable()
    if not world.is_main:
        return _resume(folder, world, emit, epochs, on_trainer, moved or {})
    folder.hold()  # rank 0 (or the one process) writes it: no other process may, from here on
    try:
        return _resume(folder, world, emit, epochs, on_trainer, moved or {})
    finally:
        release_held()


# the run's data files (spec.DATA_FILE_FIELDS): the resume flag that says where one moved, its name in a message
DATA_FILES = {path: (str(spec_field(path).flag), DATA_FILE_NAMES[path]) for path in DATA_FILE_FIELDS}


def _data_moved(spec: Spec, moved: dict[str, str], folder: RunFolder, again: str) -> tuple[Spec, list[str]]:
    """The run's spec with its data files where they are now, and the notices that say which moved. Only a file
    may move (a built-in set or a Dataset class has no place to move from); that the training and validation
    data are the same the resume checks by the checkpoint's fingerprint of them (`_resume`). A file of the run
    that is not there any more, and not given a new place, is refused with the command that gives it one
    (`again`: the flags of this resume to repeat in it), rather than as a dataset that does not exist."""
    # the place a file already has is no move (the screen, or a user, may give it again)
    moved = {path: new for path, new in moved.items() if str(Path(new).resolve()) != _field(spec, path)}
    for path, new in moved.items():
        old = _field(spec, path)
        flag, name = DATA_FILES[path]
        if not old or (path == "data.dataset" and not is_data_file(old)):
            had = f"trains on {old}" if old else f"has no {name}"
            raise UserError(f"{flag} on resume says where the run's {name} moved, and this run {had}; leave {flag} "
                            "out")
        if not Path(new).is_file():
            raise UserError(f"{flag} {new}: no such file; give the place the run's {name} ({Path(old).name}) "
                            "moved to")
    notices = [f"{DATA_FILES[path][1]} now {Path(new).resolve()} (it was {_field(spec, path)})"
               for path, new in moved.items()]
    if moved:
        spec = spec.with_overrides({path: str(Path(new).resolve()) for path, new in moved.items()})
    for path, (flag, name) in DATA_FILES.items():
        value = _field(spec, path)
        if value and path not in moved and not Path(value).exists() and (
                path != "data.dataset" or is_data_file(value)):
            raise UserError(f"{value}, the run's {name}, is not there any more; if it moved, "
                            f"`torchtui resume {folder.path}{again} {flag} NEW_PATH` goes on with it (the same "
                            "data: it is checked)")
    return spec, notices


def _field(spec: Spec, path: str) -> str:
    section, key = path.split(".")
    return str(getattr(getattr(spec, section), key))


def _resume(folder: RunFolder, world: distributed.World, emit: Emit, epochs: int | None,
            on_trainer: Callable[[Trainer], None] | None, moved: dict[str, str]) -> tuple[Outcome, RunFolder]:
    state, _ = read_run(folder.path)
    if state.running and state.pid != os.getpid() and world.is_main:
        raise UserError(f"{folder.path} is still training (process {state.pid}); stop it before resuming it")
    if world.is_main:
        folder.clean_temp_files()
    spec, ckpt, fell_back = folder.resume_point(moved=tuple(moved))
    asked = folder.spec().train.epochs
    if epochs is None and ckpt and asked != spec.train.epochs:  # a resume --epochs stopped before its first save
        epochs = asked
    if epochs is not None and epochs != spec.train.epochs:
        if ckpt and spec.train.scheduler in ("onecycle", "cosine"):
            raise UserError(f"a {spec.train.scheduler} schedule is fixed to its {spec.train.epochs} epochs; "
                            f"it cannot be extended with --epochs")
        spec = spec.with_overrides({"train.epochs": epochs})
    # live changes: those the checkpoint holds, and those the log holds after it, replayed at their steps
    applied, replay = live_change.resume_changes(ckpt, state.changes, epochs is not None)
    if ckpt:
        ckpt["changes"] = applied
    # the checkpoint is judged by the values it trained with: a change logged after it applies at its own step
    # (a patience lowered then ended the run at the save, an epoch before the run never stopped did)
    live = live_change.live_spec(spec, applied).train
    done = ckpt["progress"]["epoch"] if ckpt else 0
    ended = _unsaid_end(ckpt, state.status, live.epochs, live.patience if epochs is None else 0)
    if done >= live.epochs and not ended:
        # --epochs is the new total, not epochs to add: `--epochs 1` after 3 said "already trained 3 of 1 epochs"
        raise UserError(f"{folder.path} already trained {done} of {live.epochs} epochs; "
                        f"pass --epochs N with N > {done} to train on" if epochs is None else
                        f"{folder.path} has trained {done} epoch{'s' * (done != 1)} already; --epochs is the new "
                        f"total, not more epochs to add: give more than {done}, e.g. --epochs {done + live.epochs}")
    if ckpt and _patience_ran_out(ckpt, live.patience):
        if epochs is None and state.status == "early_stopped":  # it trained one epoch more and stopped again
            waited = f"{live.patience} epoch{'s' * (live.patience != 1)}"
            if spec.train.scheduler in ("onecycle", "cosine"):  # (--epochs N beyond its length is refused)
                raise UserError(f"{folder.path} stopped early after epoch {done} (no better validation loss in "
                                f"{waited}): it has ended; its {spec.train.scheduler} schedule is fixed "
                                f"to {spec.train.epochs} epochs: `torchtui resume {folder.path} --epochs "
                                f"{spec.train.epochs}` trains on to its end, with its patience counted afresh")
            raise UserError(f"{folder.path} stopped early after epoch {done} (no better validation loss in "
                            f"{waited}): it has ended; `torchtui resume {folder.path} --epochs N` "
                            f"trains on to epoch N, with {live.patience} more epoch{'s' * (live.patience != 1)} to "
                            "improve")
        if epochs is not None:  # trains on: its patience counts afresh, or it stopped again after one epoch
            ckpt["progress"]["bad_epochs"] = 0
    again = (f" --epochs {epochs}" if epochs is not None else "") + "".join(
        f" {DATA_FILES[path][0]} {new}" for path, new in moved.items())  # a command that repeats this one's flags
    spec, moves = _data_moved(spec, moved, folder, again)
    recorder = Recorder(emit, is_main=world.is_main)  # the folder is written only once the plan holds
    repaired = recorder.repair_best(folder, ckpt) if ckpt and not fell_back else ""
    spec = spec.with_overrides({"run.processes": _processes(world)})
    # a run trained before a rule of reading cells came in reads its data as it did (preprocess.reading_of)
    p = plan(spec, recorder, world, reading_of(ckpt["preprocessing"] if ckpt else None))
    p.data.notices.extend(n for n in (fell_back, repaired, *moves) if n)
    differs = ""
    if ckpt and p.data.pre.to_dict() != ckpt["preprocessing"]:
        reordered = _reordered_columns(p.data.pre.to_dict(), ckpt["preprocessing"])
        if reordered:  # the same data, its columns in another order: the fix is in the file
            raise UserError(f"the data of {folder.path} ({spec.data.dataset}) has its columns in another order than "
                            f"when the run trained ({reordered}); put them back in that order to resume")
        differs = "its column statistics"
    elif ckpt and ckpt.get("data_check"):  # (none: a checkpoint from before fingerprints, or a Dataset class's)
        differs = fingerprint_differs(p.data.fingerprint(), ckpt["data_check"])
    if differs:
        # the file that differs: a --val file's rows are the validation rows (an edited va.csv was named as tr.csv)
        validation = bool(spec.data.val) and differs.startswith("validation")
        file = spec.data.val if validation else spec.data.dataset
        if moves and ("data.val" if validation else "data.dataset") in moved:  # a file given on this command line
            flag = "--val" if validation else "--dataset"
            raise UserError(f"{file}, given with {flag}, is not the data {folder.path} trained on ({differs} differ "
                            f"from its checkpoint's); give the file it trained on, or start a new run on this one")
        raise UserError(f"the data of {folder.path} ({file}) changed since the checkpoint was saved "
                        f"({differs} differ); resuming would not continue the same run - start a new one")
    if ckpt and ckpt.get("world_size", 1) != world.size:
        _other_world(ckpt, p, world.size)
    distributed.start(world, p.device.type)
    failed = True
    try:
        trainer = _new_trainer(p, recorder, ckpt, world)
        for change in replay:
            trainer.changes.schedule(change, trainer.progress.step)
        if on_trainer:
            on_trainer(trainer)
        recorder.folder = folder
        if world.is_main:
            folder.write_text("spec.toml", p.spec.to_toml())
        outcome = _train(trainer, p, resumed_from=done, ended=ended)
        failed = False
        return outcome, folder
    finally:
        distributed.finish(world, failed)


def _unsaid_end(ckpt: dict[str, Any] | None, status: str, epochs: int, patience: int) -> str:
    """How a run ended that was killed after its last checkpoint and before its end event said so ('' for one
    that has training left): its epochs all trained, or early stopping reached. Such a resume only reports."""
    if not ckpt or status in ("done", "early_stopped") or ckpt["progress"].get("epoch_step"):
        return ""
    progress = ckpt["progress"]
    if progress["epoch"] >= epochs:
        return "done"
    return "early_stopped" if _patience_ran_out(ckpt, patience) else ""


def _reordered_columns(now: dict[str, Any], saved: dict[str, Any]) -> str:
    """"a, b when it trained, now b, a" where the data's columns are the checkpoint's in another order, else "":
    such a file was refused as "changed (its column statistics differ)", which sent a user looking for edits."""
    names, were = [c["name"] for c in now.get("columns") or []], [c["name"] for c in saved.get("columns") or []]
    if names == were or sorted(names) != sorted(were):
        return ""
    return f"{', '.join(were)} when it trained, now {', '.join(names)}"


def _patience_ran_out(ckpt: dict[str, Any], patience: int) -> bool:
    """Early stopping was reached at the checkpoint: at an epoch's end, `patience` epochs without a better loss."""
    progress = ckpt["progress"]
    return bool(patience) and not progress.get("epoch_step") and progress.get("bad_epochs", 0) >= patience


def _other_world(ckpt: dict[str, Any], p: Plan, size: int) -> None:
    """A resume with another number of processes: allowed, said, and not exact (other global batches). A position
    inside an epoch is kept in rows: the epoch goes on from the global batch that holds its next row."""
    was = ckpt.get("world_size", 1)
    progress = ckpt["progress"]
    if progress.get("epoch_step"):
        rows = progress["epoch_step"] * p.spec.train.batch_size * was
        progress["epoch_step"] = rows // (p.spec.train.batch_size * size)
    b = p.spec.train.batch_size  # a process's: the global batch, and so every step, changes with the count
    exact = f"{was} processes in all, as it trained" if was > 1 else "one process (no --nproc-per-node)"
    p.data.notices.append(f"resumed with {size} process{'es' if size > 1 else ''} where the run had {was}: its "
                          f"global batch is {b * size} rows ({b} a process), where it was {b * was}; it goes on, "
                          f"but not bit for bit as it would have (resumed with {exact}, it would)")


def _refuse_single_row_batches(stack: layers.Stack, rows: int, batch_size: int, processes: int = 1) -> None:
    """A batch norm that sees one value a channel in each row (BatchNorm1d over features, BatchNorm2d over a 1x1
    image) cannot train on a batch of 1 row: neither a last batch of 1, nor (several processes) a last global batch
    that leaves a process 1 row or none. (Over a wider image a row gives it values enough.)"""
    norm = next((i for i, lay in enumerate(stack.layers, 1)
                 if lay.name in ("BatchNorm1d", "BatchNorm2d") and math.prod(lay.out_shape[1:]) == 1), None)

    def smallest(b: int) -> int:
        last = rows % (b * processes)
        return min(distributed.share(last, processes, r)[1] for r in range(processes)) if last else b

    if norm is not None and smallest(batch_size) < 2:
        # the nearest batch size that works, smaller first (--batch-size 1 has none smaller: a larger one is named)
        near = sorted(range(2, min(rows, 2 * batch_size + 64) + 1), key=lambda b: (abs(b - batch_size), b))
        better = next((b for b in near if smallest(b) >= 2), None)
        each = "" if processes == 1 else f" per process x {processes} processes"
        what = (f"batches of {batch_size} row{each}" if batch_size < 2 else
                f"{rows} training rows in batches of {batch_size}{each} leave a last batch of {smallest(batch_size)}")
        raise UserError(f"layer {norm} {stack.layers[norm - 1].name} needs batches of 2 rows or more, but {what}"
                        + (f"; use --batch-size {better}" if better else "; use another batch size or fewer processes"))


def _new_trainer(p: Plan, recorder: Recorder, ckpt: dict[str, Any] | None = None,
                 world: distributed.World = distributed.SINGLE) -> Trainer:
    """The model and the data on the device: a model or dataset too big for it is one line, not a traceback."""
    try:
        return Trainer(p.spec, p.data, p.stack, p.objective, p.device, recorder, resume=ckpt, world=world)
    except torch.cuda.OutOfMemoryError:
        raise recorder.fail("out_of_memory", f"out of memory on {p.device.description} placing the model "
                            f"({p.stack.params:,} parameters) and the data on it; "
                            f"{devices.out_of_memory_advice(p.device.torch, None)}"
                            ) from None  # an `error` event: under --json, stdout says it as for any other failure


def _train(trainer: Trainer, p: Plan, resumed_from: int | None = None, ended: str = "") -> Outcome:
    """Train, then the reports (evaluation events, val_predictions.csv, --test predictions) and the end event.
    `ended`: a run that had finished training (`_unsaid_end`): the reports and the end only."""
    recorder = trainer.recorder
    folder = recorder.folder
    assert folder is not None
    live = dataclasses.replace(p, spec=trainer.spec)  # the epochs and rate of a resume that live changes set
    decision = trainer.graph_decision
    if live.spec.train.cuda_graphs == "on" and not decision.use:  # asked for outright: why not, beside the notes
        live.data.notices.append(f"--cuda-graphs on asked for, but {decision.description.removeprefix('off: ')}: "
                                 "the steps run eagerly")
    try:
        recorder.write(start_event(live, folder, trainer.steps_per_epoch, resumed_from,
                                   trainer.graph_decision.description, trainer.world), sync=True)
        try:
            try:
                outcome = Outcome(ended, trainer.progress) if ended else trainer.fit()
            except BaseException:
                recorder.settle(quiet=True)  # an epoch's save written behind: done, before the failure is said
                raise
        except torch.cuda.OutOfMemoryError:
            kept = "last.pt is kept" if folder.saved("last") else "nothing was saved yet"
            raise recorder.fail("out_of_memory", f"out of memory on {p.device.description} at batch size "
                                f"{p.spec.train.batch_size}; "
                                f"{devices.out_of_memory_advice(p.device.torch, p.spec.train.batch_size)} "
                                f"({kept})") from None
        except KeyboardInterrupt:
            recorder.write(record.end("interrupted", trainer.progress, folder.path), sync=True)
            raise
        except (TrainingFailed, UserError, Interrupted):
            raise
        except OSError as e:
            if not writing_failed(e, folder.path):  # (a user's Dataset class reading its files, say)
                recorder.write(record.error("crash", f"{type(e).__name__}: {e}"), sync=True)
                raise
            raise recorder.cannot_write(e) from None  # the run folder's disk filled, or went read-only
        except Exception as e:
            if trainer.world.launched and isinstance(e, RuntimeError):  # a collective whose peer is gone
                first = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". This is typically")[0]
                kept = "last.pt is kept" if folder.saved("last") else "nothing was saved yet"
                waited = "timed out" in first.lower() or "timeout" in first.lower()  # gloo's words, and NCCL's
                gone = (f"another process of this run did not answer for {distributed.waited(distributed.timeout())} "
                        "(stopped with SIGSTOP, hung, or its machine unreachable)" if waited
                        else "another process of this run stopped (killed, or it failed)")
                raise recorder.fail("process_lost", (
                    f"{gone}, so this one cannot go on "
                    f"({first[:200]}); {kept}: `torchtui resume {folder.path} --nproc-per-node "
                    f"{trainer.world.size}` continues it, and --max-restarts makes the launcher do so itself"),
                    trainer.progress.epoch, trainer.progress.step) from None
            recorder.write(record.error("crash", f"{type(e).__name__}: {e}"), sync=True)
            raise
        if len(p.data.x_val) and recorder.is_main:  # the reports read best.pt: rank 0's files
            for event in evaluation_events(trainer, folder):
                recorder.write(event)
            if p.data.train_set is None and folder.checkpoint_path("best").exists():  # a table's rows, worst first
                write_val_predictions(recorder, folder.checkpoint_path("best"))
        if p.spec.data.test and recorder.is_main and folder.checkpoint_path("best").exists():
            out = folder.follow() / "predictions.csv"
            options = read_options(p.spec.data, reading_of(p.data.pre))
            written = Predictor.load(folder.checkpoint_path("best")).predict_file(p.spec.data.test, out, options,
                                                                                  own_run=True)
            recorder.write(record.predictions(path=str(out), rows=written.rows, source=p.spec.data.test,
                                              unseen=[u.describe() for u in written.unseen],
                                              left_out_rows=[r.describe() for r in written.left_out_rows],
                                              filled=[f.describe() for f in written.filled]))
        recorder.write(record.end(outcome.status, outcome.progress, folder.path), sync=True)
        distributed.barrier(trainer.world)  # the ranks leave together, once rank 0 has written the reports
        return outcome
    except OSError as e:  # the start event, or the reports after training (val_predictions.csv, predictions.csv)
        if not writing_failed(e, folder.path):
            raise
        raise recorder.cannot_write(e) from None
    finally:
        recorder.close()


def writing_failed(e: OSError, folder: Path) -> bool:
    """An error of writing the run folder: a full disk or quota, a file too large, a file system gone read-only
    or failing, or any error naming a file in the folder. Not one of reading a user's own files."""
    if isinstance(e, FolderGone):
        return True
    if e.filename is not None:
        return Path(e.filename).resolve().parent == folder.resolve()
    return e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)


def write_val_predictions(recorder: Recorder, best: Path) -> bool:
    """The best model's validation rows (val_predictions.py) into the run folder, by the main process; True when
    written. Here, not in val_predictions.py, which the screen imports: the screen never reaches the recorder.

    A data file changed or gone since training started is no reason to fail a finished run:
    the file is left out, and the screen says why when it computes the table itself.
    """
    if not recorder.writes:
        return False
    try:
        table = val_predictions.compute(checkpoint.load(best), str(best))
    except Exception:  # a best-effort extra: whatever a changed data file does, the run has finished
        return False
    recorder.write_text(val_predictions.FILE, val_predictions.to_csv(table))
    return True


PAIRS = 2000  # predicted-vs-actual points in a regression report: enough for a plot, small in the event log


def evaluation_events(trainer: Trainer, folder: RunFolder) -> list[dict[str, Any]]:
    """The report a run ends with: the best model (best.pt), then the last one, on the validation rows.

    Computed after training, so the loop and its exactness are untouched, and with the epoch
    validation's own code and batch size, so each loss equals the one its epoch reported.
    """
    models = []
    best = folder.checkpoint_path("best")
    if best.exists():
        ckpt = checkpoint.load(best)
        model = copy.deepcopy(trainer.model)
        model.load_state_dict(ckpt["model"])
        models.append(("best", model, ckpt["progress"]["epoch"]))
    models.append(("last", trainer.model, trainer.progress.epoch))
    return [_evaluation(trainer, which, model, epoch) for which, model, epoch in models]


def _evaluation(trainer: Trainer, which: str, model: torch.nn.Module, epoch: int) -> dict[str, Any]:
    obj, pre, y = trainer.objective, trainer.data.pre, trainer.y_val
    loss, outputs = evaluate(model, trainer.x_val, y, obj, trainer.criterion,
                             max(trainer.spec.train.batch_size, EVAL_BATCH))
    if obj.task == "classification":
        results = task_metrics(outputs, y, obj, pre, detail=True)
        results["classes"] = [str(c) for c in pre.classes]
    else:
        results = task_metrics(outputs, y, obj, pre, detail=True)
        rows = torch.arange(0, len(y), -(-len(y) // PAIRS))  # evenly spaced, the same on every run
        in_units = lambda t: pre.to_target_units(t[rows].double().reshape(len(rows), -1).numpy())[:, 0]  # noqa: E731
        actual, predicted = in_units(y.cpu()), in_units(outputs)
        results["target"] = pre.targets[0]
        results["pairs"] = [[float(a), float(b)] for a, b in zip(actual, predicted)]
    return record.evaluation(model=which, epoch=epoch, rows=len(y), val_loss=loss, results=results)


def start_event(p: Plan, folder: RunFolder, steps_per_epoch: int, resumed_from: int | None,
                cuda_graphs: str, world: distributed.World = distributed.SINGLE) -> dict[str, Any]:
    pre, t = p.data.pre, p.spec.train
    return record.start(
        pid=os.getpid(), run_dir=str(folder.path), dataset=p.data.name, task=pre.task, target=pre.target,
        classes=[str(c) for c in pre.classes], train_rows=p.data.n_train, val_rows=len(p.data.x_val),
        input_shape=list(p.data.input_shape), outputs=p.objective.n_outputs, loss=p.objective.loss,
        notices=p.data.notices, warnings=p.data.warnings, preview=p.data.preview, table=p.data.train_set is None,
        layers=[{"layer": lay.expr, "shape": list(lay.out_shape), "params": lay.params, "added": lay.added}
                for lay in p.stack.layers],
        summary=p.stack.summary(), params=p.stack.params, device=p.device.description, epochs=t.epochs,
        batch_size=t.batch_size, steps_per_epoch=steps_per_epoch, optimizer=t.optimizer, lr=t.lr,
        scheduler=t.scheduler, seed=t.seed, resumed_from=resumed_from,
        precision=precision.describe(t.precision, p.device.type, fused_optimizer(t, p.device.type)),
        cuda_graphs=cuda_graphs, world_size=world.size,
        launcher_pid=os.getppid() if world.launched else None)  # a rank's parent: the launcher's agent
