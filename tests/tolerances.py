"""Tolerances for float comparisons between two computations, each with the reason for its size.

Two runs of the same float32 computation may differ in their last bits: the BLAS and oneDNN kernels choose their
blocking and vector paths by CPU model, thread count and memory alignment (a save/load round trip of the same
weights differed by 6e-8 on an AMD EPYC). So a value recomputed in another call, by another model instance or in
another batch is compared with a tolerance, never bit for bit; only copies (a value stored and read back, a
candidate selected from a batch) are compared exactly.
"""

# Recomputed float32 values of order 1 (unit-norm embeddings, probabilities, audio in [-1, 1]) through the same
# operations: one float32 ulp of 1 is 1.2e-7 and a handful of roundings can differ, so 1e-6; a real change (another
# seed, another weight) moves them by 1e-3 or more.
RECOMPUTED_ATOL = 1e-6

# Values that the code rounds to `decimals` places before reporting (ScoreReport.to_dict: 4 for confidences and
# probabilities, 3 for onsets in seconds): a recomputation 1e-7 away can land on the other side of a rounding
# boundary, one unit of the last place.
def rounded_atol(decimals: int) -> float:
    return 1.5 * 10.0 ** -decimals
