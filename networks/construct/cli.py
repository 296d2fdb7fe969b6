"""``slth construct``: build a certified ticket for a target and write a run directory.

The run directory ``<runs-root>/construct/<hash>/seed_<s>/`` holds ``config.json``, ``env.json``,
``ticket.pt`` (the ticket's tensors, masks as bool), ``certificate.json`` and ``report.json``, each written
atomically, then ``DONE`` with the digest of each. Re-running the same command on a finished directory
does nothing; if one of those files changed since (``DONE`` no longer matches it), it is moved aside with
a one-line warning and the ticket is constructed again (``--strict``: refused). The directory is locked
while a process constructs into it, so a second identical command says the run is in use (or waits).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
from pathlib import Path
from typing import Literal

from theory.bounds import BURKHOLZ_CODE_RHO
from theory.plumbing.configs import add_config_arguments, config_from_namespace, config_to_dict, help_field
from theory.plumbing.rundir import RunDir
from theory.validate import check_int, check_range

__all__ = ["ConstructConfig", "add_arguments", "paired_accuracy", "run", "run_construct"]

#: Largest ``n`` (and ``rho``) that ``construct_ticket`` accepts (one definition: build.py reads it).
MAX_CANDIDATES = 64

DEFAULT_PENSIA_NPZ = Path(__file__).resolve().parents[3] / "shared" / "data" / "pensia_fc2_mnist.npz"


@dataclasses.dataclass(frozen=True)
class ConstructConfig:
    """Certified strong-lottery-ticket construction."""

    target: str = help_field(
        "digits-mlp", "preset (pensia-fc2, digits-mlp, mnist1d-mlp, digits-cnn) or a .pt/.pth/.npz file"
    )
    eps: float = help_field(0.01, "requested accuracy (> 0); see --budget")
    method: Literal["pensia", "xiong", "dacunha", "sparse", "burkholz"] = help_field("pensia", "construction")
    perturbation: float = help_field(0.0, "max-norm of the second-layer perturbation (xiong only)")
    candidates_per_weight: int | None = help_field(None, "n per half-block (default: C log2(1/tau))")
    density: float | None = help_field(
        None, "sparse only: fraction in (0, 1] of each layer's source parameters kept (fixed-size subsets)"
    )
    rho: int | None = help_field(
        None, f"burkholz only: copies per target neuron, 1 to {MAX_CANDIDATES} (default {BURKHOLZ_CODE_RHO})"
    )
    budget: Literal["certified", "per-weight"] = help_field(
        "certified", "eps is the certificate or each weight's tolerance"
    )
    constant: float = help_field(3.0, "the constant C of the default n")
    nonnegative_input: bool = help_field(False, "the network input is non-negative (pixels in [0, 1])")
    seed: int = help_field(0, "seed of the random source network and of trained presets")

    def __post_init__(self) -> None:
        """Refuse values no construction accepts before any run directory exists (one-line messages)."""
        check_range("eps", self.eps, 0.0, None, lo_open=True)
        if self.density is not None:
            check_range("density", self.density, 0.0, 1.0, lo_open=True)
        if (self.method == "sparse") != (self.density is not None):
            raise ValueError(
                "--density is required by --method sparse and applies to it only "
                f"(got --method {self.method}, --density {self.density})"
            )
        if self.rho is not None:
            check_int("rho", self.rho, 1, MAX_CANDIDATES)
            if self.method != "burkholz":
                raise ValueError(f"--rho applies to --method burkholz only (got --method {self.method})")
            if self.candidates_per_weight is not None:
                raise ValueError("--rho and --candidates-per-weight both set the burkholz copies: give one")
        if self.candidates_per_weight is not None:
            check_int("candidates_per_weight", self.candidates_per_weight, 1, MAX_CANDIDATES)

    @property
    def candidates(self) -> int | None:
        """What ``construct_ticket`` takes as ``candidates_per_weight`` (``rho`` for burkholz)."""
        return self.rho if self.rho is not None else self.candidates_per_weight


def _target(cfg: ConstructConfig):
    """(model, dataset or None, input_shape) for a preset or a target file."""
    from networks.construct.targets import PRESETS, load_pensia_fc2, load_target_file, train_preset

    if cfg.target == "pensia-fc2":
        return load_pensia_fc2(DEFAULT_PENSIA_NPZ), None, (1, 28, 28)
    if cfg.target in PRESETS:
        model, ds = train_preset(cfg.target, seed=cfg.seed)
        return model, ds, tuple(ds.in_shape)
    if Path(cfg.target).suffix.lower() in (".pt", ".pth", ".npz"):
        model, in_shape = load_target_file(cfg.target)
        return model, None, in_shape
    raise ValueError(
        f"--target must be a preset (pensia-fc2, {', '.join(PRESETS)}) or a .pt/.pth/.npz file; "
        f"got {cfg.target!r}"
    )


def _file_digest(target: str) -> str | None:
    """sha256 of a target file, None for presets.

    A run is keyed by the config, which holds only the path: the digest stops a re-run from silently
    reusing a result after the file at that path changed.
    """
    import hashlib

    path = Path(target)
    if path.suffix.lower() not in (".pt", ".pth", ".npz") or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_construct(
    cfg: ConstructConfig, *, runs_root: str | Path = "runs", device: str = "cpu", quiet: bool = False
) -> Path:
    """Construct, evaluate and record one ticket; returns the run directory (resumes if finished).

    Raises:
        RunInUse: Another process is constructing into the same run directory.
    """
    rundir = RunDir.for_config(runs_root, "construct", cfg, seed=cfg.seed)
    rundir.check_config()
    rundir.lock()  # one writer per run, before any work (RunInUse names the holder)
    try:
        return _construct_into(rundir, cfg, device=device, quiet=quiet)
    finally:
        rundir.release()


def _construct_into(rundir: RunDir, cfg: ConstructConfig, *, device: str, quiet: bool) -> Path:
    import torch

    from networks.construct import construct_ticket

    out = rundir.path
    digest = _file_digest(cfg.target) if cfg.target != "pensia-fc2" else _file_digest(str(DEFAULT_PENSIA_NPZ))
    if rundir.done and (out / "report.json").exists():
        from theory.plumbing.records import read_json

        recorded_report = read_json(out / "report.json")
        recorded = recorded_report.get("target_sha256")
        if recorded != digest:
            raise ValueError(
                f"the target file {cfg.target} changed since the run in {out} was recorded "
                f"(sha256 {recorded} -> {digest}); move that run directory away to construct again"
            )
        # A report from before the certificate carried its input domain (and the paired accuracy
        # counts) is recomputed, not reused: the same config, a newer record.
        if "input_domain" in recorded_report:
            return out
    model, ds, in_shape = _target(cfg)
    ticket = construct_ticket(
        model,
        eps=cfg.eps,
        method=cfg.method,
        perturbation=cfg.perturbation,
        candidates_per_weight=cfg.candidates,
        budget=cfg.budget,
        constant=cfg.constant,
        nonnegative_input=cfg.nonnegative_input,
        input_shape=in_shape,
        seed=cfg.seed,
        device=device,
        density=cfg.density,
    )
    report = ticket.report()
    if ds is not None:
        x = ds.x_test.reshape(len(ds.x_test), *ds.in_shape)
        report.update(paired_accuracy(model, ticket, x, ds.y_test))
        report["max_input_norm"] = float(x.flatten(1).to(torch.float64).norm(dim=1).max())
        report["measured_error"] = ticket.measure(model, x, radius=report["max_input_norm"])
        report["certified_bound_at_max_input_norm"] = ticket.certified_bound(report["max_input_norm"])
    else:
        # MNIST accuracy only for the network trained on it; a user's file has no known test set.
        report["target_acc"], report["ticket_acc"] = (
            _mnist_accuracy(model, ticket) if cfg.target == "pensia-fc2" else (None, None)
        )
        gen = torch.Generator().manual_seed(cfg.seed)
        probe = torch.randn(256, *in_shape, generator=gen, dtype=torch.float64)
        if cfg.nonnegative_input:
            probe = probe.abs()  # the certificate's domain is x >= 0 there
        probe = probe / probe.flatten(1).norm(dim=1).reshape(-1, *([1] * len(in_shape)))
        report["measured_error"] = ticket.measure(model, probe)
    report["config"] = config_to_dict(cfg)
    report["target_sha256"] = digest
    rundir.open(env={"device": str(device)})
    buf = io.BytesIO()
    torch.save(ticket.state_dict(), buf)
    rundir.write_bytes("ticket.pt", buf.getvalue())
    if ds is not None:
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        rundir.write_bytes("target.pt", buf.getvalue())
    rundir.write_json(
        "certificate.json",
        {
            "certified_bound": report["certified_bound"],
            "certified_bound_float32": report["certified_bound_float32"],
            "certified_bound_exact_arithmetic": report["certified_bound_exact_arithmetic"],
            "radius": 1.0,
            "input_domain": report["input_domain"],
            "rounding": "the bound includes the rounding of both forward passes (float64; float32 listed)",
            "layer_norms": report["layer_norms"],
            "derivation": "networks.construct.certificate (layer-wise Lipschitz composition)",
        },
    )
    rundir.write_json("report.json", report)
    rundir.mark_done()
    if not quiet:
        print(
            f"{cfg.method} eps={cfg.eps}: kept {report['kept_params']} of {report['source_params']} "
            f"(kept_ratio {report['kept_ratio']:.3f}), certified {report['certified_bound']:.4g} on "
            f"{report['input_domain']['description']}, "
            f"failed weights {report['num_failed_weights']}, target_acc {report['target_acc']}, "
            f"ticket_acc {report['ticket_acc']} -> {out}"
        )
    return out


def paired_accuracy(model, ticket, x, y) -> dict:
    """Target and ticket predictions on the same test examples, as counts (the accuracy evidence).

    Both run in float32 (the target as given, the ticket through :meth:`Ticket.accuracy`'s dtype).

    Returns:
        ``target_acc``, ``ticket_acc`` (percent) and ``paired``: ``n``, ``both_correct``,
        ``target_only`` (target right, ticket wrong), ``ticket_only``, ``both_wrong``, ``disagree``
        (different predicted classes).
    """
    import torch

    dev = ticket.layers[0].b.device
    with torch.no_grad():
        pt = model(x.to(next(model.parameters()).dtype)).argmax(1).cpu()
        pk = ticket(x.to(dev, torch.float32)).argmax(1).cpu()
    y = y.cpu()
    ct, ck = pt == y, pk == y
    n = len(y)
    paired = {
        "n": n,
        "both_correct": int((ct & ck).sum()),
        "target_only": int((ct & ~ck).sum()),
        "ticket_only": int((~ct & ck).sum()),
        "both_wrong": int((~ct & ~ck).sum()),
        "disagree": int((pt != pk).sum()),
    }
    return {
        "target_acc": 100.0 * int(ct.sum()) / n,
        "ticket_acc": 100.0 * int(ck.sum()) / n,
        "paired": paired,
    }


def _mnist_accuracy(model, ticket) -> tuple[float | None, float | None]:
    """Target and ticket test accuracy on MNIST when the IDX files are present (else ``(None, None)``).

    Images are standardised with the usual MNIST mean/std (0.1307, 0.3081), the torchvision example
    convention; that Pensia et al. trained with it is an assumption (their 97.19% is the check).
    """
    import torch

    from networks.data import load_dataset

    try:
        ds = load_dataset("mnist_idx")
    except FileNotFoundError:
        return None, None
    x = (ds.x_test - 0.1307) / 0.3081
    with torch.no_grad():
        target_acc = 100.0 * float((model(x).argmax(1) == ds.y_test).float().mean())
    return target_acc, ticket.accuracy(x, ds.y_test)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``slth construct`` flags to ``parser``."""
    from theory.cli import add_run_options

    add_config_arguments(parser, ConstructConfig)
    add_run_options(parser)  # --runs-root, --quiet
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")


def run(args: argparse.Namespace) -> int:
    """Handler for ``slth construct``."""
    cfg = config_from_namespace(ConstructConfig, args)
    run_construct(cfg, runs_root=args.runs_root, device=args.device, quiet=getattr(args, "quiet", False))
    return 0
