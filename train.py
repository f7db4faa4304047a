"""Train an odenets model: image or signal classification, or dynamics from trajectories.

    python train.py                                        # the default: about a minute on a CPU
    python train.py --model rk4_digits --epochs 20 --seed 1
    python train.py --dataset cifar10 --data-dir data --download --model-kwargs '{...}'
    python train.py --dataset pendulum --model aphynity --iterations 300   # dynamics
    python train.py --config run.yaml --lr 0.05            # a YAML/JSON file, then flags
    python train.py --resume results/<run-name>            # continue exactly where it stopped
    python train.py --resume results/<run-name> --epochs 60   # extend a finished run
    torchrun --nproc_per_node=2 train.py --batch-size 128  # DistributedDataParallel

``--dataset`` picks the mode: digits, mnist, fashion_mnist, cifar10, cifar100, stl10 or a
.npz/.pt file train a classifier (periods are epochs); pendulum, spiral, mass_spring,
reaction_diffusion, ... train a dynamics model (periods are evaluations every --eval-every
iterations). Every key is a flag and a key of a --config file; unknown keys, wrong types and a
flag of the other mode are errors. A run writes to <out_dir>/<run_name>/: config.json,
metrics.jsonl (one line per period), checkpoint_last.pt (and checkpoint_best.pt when there is a
validation split), summary.json and the figures. The same training runs in-process as
``odenets.training.fit(config)`` and as ``odenets train ...``. See docs/training.md.
"""

import sys

from odenets.training import Trainer, parse_args, run_command


def main(argv=None) -> dict:
    # ----------------------------------------------------------------- configuration
    # defaults <- --config file <- flags; with --resume, the run's saved config is the base
    config = parse_args(argv, description=__doc__)

    # ------------------------------------- data, model, optimiser and the run directory
    # every check passes before config.json is written; --resume restores the checkpoint
    with Trainer(config) as trainer:
        # ------------------------------------------------------------------ the loop
        # one iteration = one optimisation step on one batch; a period = an epoch, or the
        # iterations between two evaluations of a dynamics model
        for iteration in trainer.iterations():
            trainer.train_step(iteration)  # a NaN/inf loss stops the run, nothing saved
            if trainer.period_ends(iteration):
                trainer.end_period(iteration)  # evaluate, metrics.jsonl, best + last checkpoint

        # ------------------------------------------- the final model, summary.json, plots
        # classification scores the best validation checkpoint on the test set
        return trainer.finish()


if __name__ == "__main__":
    sys.exit(run_command(main, prog="train.py"))
