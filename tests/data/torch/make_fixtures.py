"""Write the PyTorch fixture files that tests/test_torch_format.py reads without PyTorch.

Run with a real PyTorch, in its own environment (never by the tests, torch is no dependency):

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
    /tmp/torchvenv/bin/python tests/data/torch/make_fixtures.py

It writes, beside this script:

- state_zip.pt      the state dict in torch.save's zip format (torch >= 1.6), plus a uint16 tensor
- state_legacy.pth  the same state dict, less uint16, in the legacy format (_use_new_zipfile_serialization=False)
- checkpoint.pt     a checkpoint {"epoch": 3, "state_dict": {...}} in the zip format
- expected.npz      the arrays torch.load gives for each entry (bfloat16 widened to float32)

The state dict covers what a reader gets wrong most easily: transposed, strided and permuted
views (TensorFlow's kernel layout seen through PyTorch's), a storage offset, two tensors sharing
one storage, every common dtype, 0-d and empty tensors, and a Parameter.
"""

import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def state_dict():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 6, generator=g)
    tf_kernel = torch.randn(3, 3, 3, 32, generator=g)  # (kh, kw, in, out), TensorFlow's layout
    shared = torch.arange(24, dtype=torch.float32).reshape(2, 12)
    sd = {
        "transposed": w.t(),  # (6, 4), stride (1, 6)
        "strided": w[:, ::2],  # (4, 3), stride (6, 2)
        "offset": w[1:, 2:5],  # storage offset 8
        "conv.weight": tf_kernel.permute(3, 2, 0, 1),  # (32, 3, 3, 3), stride (1, 32, 288, 96)
        "shared_a": shared[0],  # two views of one storage
        "shared_b": shared[1, 2:],  # offset 14 in the same storage
        "half": torch.linspace(-2, 2, 7).half(),
        "bfloat16": torch.randn(2, 3, generator=g).bfloat16().t(),
        "double": torch.randn(3, generator=g).double(),
        "bn.num_batches_tracked": torch.tensor(12345678901, dtype=torch.int64),
        "int32": torch.arange(-3, 3, dtype=torch.int32).reshape(2, 3).t(),
        "uint8": torch.arange(250, 256, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 5),
        "param": torch.nn.Parameter(torch.ones(2, 2) * 0.5),
    }
    assert sd["conv.weight"].stride() == (1, 32, 288, 96)
    assert sd["offset"].storage_offset() == 8
    assert sd["shared_a"].untyped_storage().data_ptr() == sd["shared_b"].untyped_storage().data_ptr()
    return sd


def main():
    sd = state_dict()
    torch.save(sd, os.path.join(HERE, "state_legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save({"epoch": 3, "state_dict": sd}, os.path.join(HERE, "checkpoint.pt"))
    # uint16 (torch >= 2.3) has no typed storage: the zip format rebuilds it with _rebuild_tensor_v3
    # from an UntypedStorage and a dtype global; the legacy format cannot load it back, so only here.
    sd["uint16"] = torch.tensor([0, 1, 65535], dtype=torch.uint16)
    torch.save(sd, os.path.join(HERE, "state_zip.pt"))
    # What torch itself reads back is the oracle.
    loaded = torch.load(os.path.join(HERE, "state_zip.pt"), weights_only=True)
    expected = {k: (v.float() if v.dtype == torch.bfloat16 else v).detach().numpy() for k, v in loaded.items()}
    np.savez(os.path.join(HERE, "expected.npz"), **expected)
    print(f"torch {torch.__version__}: wrote {len(sd)} tensors to {HERE}")


if __name__ == "__main__":
    main()
