"""Train a PyTorch text classifier over many classes with pysampled's sampled softmax, on CPU.

The task is synthetic so the script needs nothing but torch and pysampled:
50,000 classes with Zipf-distributed frequencies; each example is the bag of
its class's 3 signature tokens plus 2 random tokens out of a 100,000-word
vocabulary. The model is ``nn.EmbeddingBag(sparse=True)`` followed by a
``pysampled.torch.SampledSoftmax`` head (512 log-uniform negatives per batch,
sparse gradients), trained with ``pysampled.torch.SparseAdam`` (PyTorch's
SparseAdam with a fused step); accuracy is
measured with the full softmax (``head.full_logits``). A checkpoint made with
``state_dict()`` also holds the sampler's stream, so a resumed run draws the
same negatives.

    python examples/train_torch_sampled_softmax.py [--steps 1500] [--threads 2] [--compile]
"""
import argparse
import io
import time

import pysampled  # noqa: F401  (import first: its OpenMP spin policy then applies to torch's pool too)
import torch

import pysampled.torch as pt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--classes", type=int, default=50_000)
    ap.add_argument("--vocab", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--sampled", type=int, default=512)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    signature = torch.randint(0, a.vocab, (a.classes, 3), generator=g)
    freq = 1 / torch.arange(1, a.classes + 1, dtype=torch.float64)

    def batch(n):
        y = torch.multinomial(freq, n, replacement=True, generator=g)
        tokens = torch.cat([signature[y], torch.randint(0, a.vocab, (n, 2), generator=g)], 1)
        return tokens, y

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.EmbeddingBag(a.vocab, a.dim, mode="mean", sparse=True)
            self.head = pt.SampledSoftmax(a.classes, a.dim, a.sampled, num_shards=2, seed=1,
                                          num_threads=a.threads)

        def forward(self, tokens, labels):
            return self.head(self.embed(tokens), labels).mean()

        def predict(self, tokens):
            return self.head.full_logits(self.embed(tokens)).argmax(1)

    torch.manual_seed(0)
    model = Model()
    step_fn = torch.compile(model) if a.compile else model
    opt = pt.SparseAdam(list(model.parameters()), lr=0.01)
    test_tokens, test_labels = batch(5000)
    t0 = time.perf_counter()
    for step in range(1, a.steps + 1):
        tokens, labels = batch(a.batch)
        loss = step_fn(tokens, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == a.steps:
            with torch.no_grad():
                acc = (model.predict(test_tokens) == test_labels).double().mean().item()
            print(f"step {step:5d}  sampled loss {loss.item():7.3f}  held-out accuracy {acc:.3f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)  # weights, biases and the sampler's stream state
    print(f"checkpoint: {buf.tell() / 2**20:.1f} MiB (sampler state included)")


if __name__ == "__main__":
    main()
