"""Steps that read and write arrays with numpy."""

from __future__ import annotations

import numpy
import numpy as np
import pandera.pandas as pa
import scipy.io
from numpy import load as npload
from numpy import savetxt
from pandera.typing import DataFrame

from sdk import Step


class Signal(pa.DataFrameModel):
    """A sample of a signal."""

    t: int
    v: float


class FilterWithSavedKernel(Step):
    """Convolve with a kernel stored on disk."""

    def run(self, signal: DataFrame[Signal]) -> DataFrame[Signal]:
        """Filter the signal."""
        kernel = np.load("kernel.npy")  # expect: SDK101
        k2 = npload("kernel2.npy")  # expect: SDK101
        k3 = np.loadtxt("kernel.txt")  # expect: SDK101
        k4 = np.genfromtxt("kernel.csv", delimiter=",")  # expect: SDK101
        k5 = np.fromfile("kernel.bin", dtype=np.float32)  # expect: SDK101
        k6 = numpy.memmap("kernel.mm", dtype="float32", mode="r")  # expect: SDK101
        np.save("filtered.npy", signal["v"].to_numpy())  # expect: SDK101
        np.savez("bundle.npz", a=kernel)  # expect: SDK101
        np.savez_compressed("bundle2.npz", a=kernel)  # expect: SDK101
        savetxt("filtered.txt", signal["v"].to_numpy())  # expect: SDK101
        signal["v"].to_numpy().tofile("raw.bin")  # expect: SDK101
        mat = scipy.io.loadmat("kernel.mat")  # expect: SDK101
        total = kernel.sum() + k2.sum() + k3.sum() + k4.sum() + k5.sum() + k6.sum() + len(mat)
        return signal.assign(v=np.convolve(signal["v"], kernel, mode="same") / total)
