"""A linear vector field ``F(y) = A y`` that counts its calls: closed forms for Neural ODE tests."""

import torch
from torch import nn

DT = torch.float64


class Linear(nn.Module):
    """``F(y) = A y`` (rows of ``y`` are states), counting its own calls."""

    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(torch.as_tensor(a, dtype=DT))
        self.calls = 0

    def forward(self, y):
        self.calls += 1
        return y @ self.a.t()
