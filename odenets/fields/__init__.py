"""Vector fields ("layer functions") ``F(y)`` for dense, 1-D and 2-D states.

Any ``torch.nn.Module`` mapping a state to a tensor of the same shape is a vector field;
these are the ones of the literature, registered for :func:`odenets.create_field`.
"""

from .antisymmetric import AntisymmetricLayer
from .moment import MomentConv2d
from .residual import ResidualBranch
from .symmetric import SymmetricLayer

__all__ = ["AntisymmetricLayer", "MomentConv2d", "ResidualBranch", "SymmetricLayer"]
