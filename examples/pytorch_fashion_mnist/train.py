#!/usr/bin/python3
"""Fashion-MNIST MLP in PyTorch with its learning rate scheduled by AutoLRS.

The same task as examples/fashion_mnist (libtorch): an MLP 784-256-10, SGD
with momentum 0.9, batches of 128, Debian's dataset-fashion-mnist (the last
10,000 training images are the validation split; the Tuner's evaluations use
its first 2,000). The lines marked "AutoLRS" are all it takes.

    python3 examples/pytorch_fashion_mnist/train.py --server=localhost:50051 \
        --job_id=pt-mlp-1 --total_steps=6000

Prints one line per AutoLRS action on stderr and, at the end, on stdout:
    final: test_loss=... test_accuracy=... val_loss=... steps=... model_steps=... seconds=...
"""

import argparse
import gzip
import os
import sys
import time

import torch

try:
    import autolrs.torch  # AutoLRS
except ImportError:  # Run from the source tree without installing the package.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "client", "python"))
    import autolrs.torch  # AutoLRS

DATA_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    """An IDX file (plain or gzipped) as a uint8 tensor of its shape."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    body = data[4 + 4 * dims:]
    if len(body) != torch.Size(shape).numel():
        raise ValueError(f"{path}: expected {shape} values, got {len(body)} bytes")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def load(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte"))
    return (images.float().div_(255).sub_(MEAN).div_(STD).reshape(-1, 784), labels.long())


class Batches:
    """The training stream: reshuffled every epoch (seeded), full batches only."""

    def __init__(self, images, labels, batch_size, seed):
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.position = None, len(labels)

    def __next__(self):
        if self.position + self.batch_size > len(self.labels):
            self.order = torch.randperm(len(self.labels), generator=self.generator)
            self.position = 0
        ids = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return self.images[ids], self.labels[ids]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", default="localhost:50051")
    p.add_argument("--job_id", default="pt-mlp-s1")
    p.add_argument("--token_file", help="file with the server's bearer token")
    p.add_argument("--total_steps", type=int, default=6000, help="steps spent, probes included")
    p.add_argument("--lr_min", type=float, default=1e-3)
    p.add_argument("--lr_max", type=float, default=1.0)
    p.add_argument("--tau_initial", type=int, default=200)
    p.add_argument("--tau_max", type=int, default=800)
    p.add_argument("--probes_per_stage", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data_dir", default=DATA_DIR)
    args = p.parse_args(argv)
    start = time.monotonic()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    images, labels = load(args.data_dir, "train")
    train = Batches(images[:-10000], labels[:-10000], args.batch_size, args.seed)
    val_x, val_y = images[-10000:][:2000], labels[-10000:][:2000]
    test_x, test_y = load(args.data_dir, "t10k")

    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = torch.nn.functional.cross_entropy

    def validation_loss():
        with torch.no_grad():
            return loss_fn(model(val_x), val_y).item()

    token = open(args.token_file).read().strip() if args.token_file else None
    sched = autolrs.torch.AutoLRS(  # AutoLRS
        model, optimizer, validation_loss, server=args.server, token=token,  # AutoLRS
        job_id=args.job_id, lr_min=args.lr_min, lr_max=args.lr_max,  # AutoLRS
        total_steps=args.total_steps, tau_initial=args.tau_initial, tau_max=args.tau_max,
        probes_per_stage=args.probes_per_stage, seed=args.seed)  # AutoLRS
    if sched.done:
        sys.exit(f"train.py: job '{args.job_id}' is already done; choose another --job_id")

    action, recent = None, []
    while not sched.done:  # AutoLRS
        if sched.action.action_id != getattr(action, "action_id", None):
            log_action(action, recent)
            action, recent = sched.action, []
        x, y = next(train)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        recent = (recent + [loss.item()])[-10:]
        sched.step(loss)  # AutoLRS
    log_action(action, recent)

    job = sched.client.get_job(args.job_id)
    with torch.no_grad():
        logits = model(test_x)
        test_loss = loss_fn(logits, test_y).item()
        accuracy = (logits.argmax(1) == test_y).float().mean().item()
    print(f"final: test_loss={test_loss:.4f} test_accuracy={accuracy:.4f} "
          f"val_loss={validation_loss():.4f} steps={job.steps_spent} "
          f"model_steps={job.model_steps} seconds={time.monotonic() - start:.1f}", flush=True)
    sched.close()


def log_action(action, recent):
    if action is None or not recent:
        return
    phase = autolrs.job_pb2.Phase.Name(action.phase)[len("PHASE_"):].lower()
    lr = f"{action.lr:.4g}"
    if action.phase in (autolrs.job_pb2.PHASE_WARMUP, autolrs.job_pb2.PHASE_COOLDOWN):
        lr = f"{action.lr_ramp_start:.4g}->{lr}"
    print(f"action {action.action_id}: stage {action.stage} {phase:8} lr {lr:<18} "
          f"{action.steps:5} steps, last-10 loss {sum(recent) / len(recent):.4f}",
          file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except autolrs.Error as e:
        sys.exit(f"train.py: {e}")
