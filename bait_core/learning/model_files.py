"""How to make a model file this project reads: code a user can copy, for their data's input shape.

`weights_snippet(arch, input_shape, n_outputs, name)` saves a built-in architecture's weights (the keys the
loader expects are those of `learning.models.build_model`); `export_snippet(input_shape, n_outputs, name)`
writes a `torch.export` program (``.pt2``) whose forward takes (B, *input_shape) float32 and returns
(logits (B, K), embedding (B, d)) — the contract `learning.models.load_exported` checks. Both are run by
the tests and loaded with `learning.models.load_user_model`, so the text shown on Setup is known to work.
Nothing here imports streamlit.
"""

from __future__ import annotations

from math import prod

__all__ = ["weights_snippet", "export_snippet"]


def weights_snippet(arch: str, input_shape: tuple[int, ...], n_outputs: int, name: str = "data") -> str:
    """Python code that builds `arch` for inputs of shape `input_shape` and `n_outputs` outputs, leaves
    room for training, and saves its weights as ``<arch>_<name>.pt`` (torch.save of the state_dict)."""
    shape = tuple(int(v) for v in input_shape)
    return (
        "import torch\n"
        "from bait_core.learning.models import build_model\n\n"
        f"model = build_model({arch!r}, {shape!r}, {int(n_outputs)}, seed=0)   # input (B, {', '.join(map(str, shape))}), "
        f"{int(n_outputs)} output(s)\n"
        "# ... train it your way: model(x) gives the logits, model.embed(x) the embedding ...\n"
        f"torch.save(model.state_dict(), {f'{arch}_{name}.pt'!r})   # upload with the architecture {arch!r}\n"
    )


def export_snippet(input_shape: tuple[int, ...], n_outputs: int, name: str = "data", hidden: int = 64) -> str:
    """Python code for a small network of your own exported with torch.export as ``net_<name>.pt2``:
    forward(x (B, *input_shape) float32) → (logits (B, n_outputs), embedding (B, hidden))."""
    shape = tuple(int(v) for v in input_shape)
    d = prod(shape)
    return (
        "import torch\n\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear({d}, {hidden}), torch.nn.ReLU())\n"
        f"        self.head = torch.nn.Linear({hidden}, {int(n_outputs)})\n\n"
        f"    def forward(self, x):                  # x: (B, {', '.join(map(str, shape))}) float32\n"
        f"        h = self.body(x)                   # the embedding: (B, {hidden})\n"
        "        return self.head(h), h             # (logits, embedding)\n\n"
        "net = Net().eval()                          # ... train it your way first ...\n"
        f"example = torch.zeros(2, {', '.join(map(str, shape))})\n"
        "program = torch.export.export(net, (example,), dynamic_shapes=({0: torch.export.Dim('batch')},))\n"
        f"torch.export.save(program, {f'net_{name}.pt2'!r})\n"
    )
