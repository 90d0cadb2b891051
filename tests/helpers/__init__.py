"""Helpers shared by the test modules; imported as ``helpers.<module>``.

pytest puts ``tests/`` on ``sys.path`` (rootdir-relative ``prepend`` import mode, no
``tests/__init__.py``), so this package is importable as ``helpers`` while ``pympas`` still comes
from wherever it is installed; the repository root is deliberately kept off ``sys.path`` so that
CI tests the installed wheel, not the source folder (which lacks the compiled extensions).

- ``devices``: the CPU/CUDA device parameters, why CUDA is unavailable, ``to_numpy``.
- ``strategies``: hypothesis strategies for the kernels' property tests.
- ``labelsets``: tiny on-disk label sets in the format of ``pympas label``.
- ``scenes``: small synthetic videos of textured blobs for the labelling tests.
- ``checkpoints``: a tiny untrained checkpoint for the segmenting tests.
- ``realcrowd``: the shared real-crowd collectiveness reference (the authors' Octave output).
"""
