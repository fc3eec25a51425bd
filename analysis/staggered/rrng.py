"""R's default random number generator, so that permutation draws match R's draw for draw.

R >= 3.6 defaults: Mersenne-Twister (MT19937), Inversion, and "Rejection" sampling. This module
reproduces `set.seed(s)` (seed scrambling by the LCG x <- 69069 x + 1), `unif_rand()` / `runif()`,
`R_unif_index()` (rejection sampling on random bits), `sample(n)` and `exp_rand()` / `rexp()`
(Ahrens & Dieter 1972), following R's `src/main/RNG.c`, `src/main/random.c` and
`src/nmath/sexp.c` as described in section 11 of the staggered-rollout spec.

`RRandom` is the scalar generator; `r_permutations(seeds, n)` draws one `sample(n)` per seed
(`set.seed(seed); sample(n)`), vectorised across seeds, which is what the Fisher randomization
test needs (seeds 1..B).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

_N = 624
_M = 397
_MATRIX_A = np.uint32(0x9908B0DF)
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)
_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)
_TO_UNIT = 2.3283064365386963e-10  # 2^-32
_SEED_SCRAMBLE_ROUNDS = 50
_LCG_MULTIPLIER = 69069

# q_k = sum_{i=1}^{k+1} (ln 2)^i / i!, summed in double precision as R tabulates them (sexp.c)
_EXP_Q = tuple(
    math.fsum(math.log(2.0) ** i / math.factorial(i) for i in range(1, k + 2)) for k in range(16)
)


def seeded_states(seeds: Sequence[int] | np.ndarray) -> np.ndarray:
    """MT19937 state words (len(seeds) x 624, uint32) after R's `set.seed(seed)` for each seed.

    R scrambles the seed with 50 rounds of x <- 69069 x + 1 (mod 2^32), then fills the 625
    seed words (the position index and 624 state words) with 625 further rounds; the index is
    then reset to 624, so the first draw regenerates the whole state.
    """
    seed = np.asarray(seeds, dtype=np.int64) % (1 << 32)
    seed = seed.astype(np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    multiplier = np.uint64(_LCG_MULTIPLIER)
    for _ in range(_SEED_SCRAMBLE_ROUNDS):
        seed = (multiplier * seed + np.uint64(1)) & mask
    words = np.empty((seed.shape[0], _N + 1), dtype=np.uint32)
    for j in range(_N + 1):
        seed = (multiplier * seed + np.uint64(1)) & mask
        words[:, j] = seed.astype(np.uint32)
    return words[:, 1:].copy()


def _twist(mt: np.ndarray) -> None:
    """Regenerate the 624 state words in place (rows are independent generators)."""

    def mix(upper: np.ndarray, lower: np.ndarray, far: np.ndarray) -> np.ndarray:
        y = (upper & _UPPER) | (lower & _LOWER)
        return far ^ (y >> np.uint32(1)) ^ ((y & np.uint32(1)) * _MATRIX_A)

    # kk in [0, 227) reads mt[kk + 397] (not yet updated); later blocks read updated words
    mt[:, 0:227] = mix(mt[:, 0:227], mt[:, 1:228], mt[:, 397:624])
    mt[:, 227:454] = mix(mt[:, 227:454], mt[:, 228:455], mt[:, 0:227])
    mt[:, 454:623] = mix(mt[:, 454:623], mt[:, 455:624], mt[:, 227:396])
    mt[:, 623] = mix(mt[:, 623], mt[:, 0], mt[:, 396])


def _temper(y: np.ndarray) -> np.ndarray:
    y = y ^ (y >> np.uint32(11))
    y = y ^ ((y << np.uint32(7)) & np.uint32(0x9D2C5680))
    y = y ^ ((y << np.uint32(15)) & np.uint32(0xEFC60000))
    return y ^ (y >> np.uint32(18))


def _fixup(u: np.ndarray) -> np.ndarray:
    """R keeps uniforms strictly inside (0, 1)."""
    u = np.where(u <= 0.0, 0.5 * _I2_32M1, u)
    return np.where(1.0 - u <= 0.0, 1.0 - 0.5 * _I2_32M1, u)


def _uniform_block(mt: np.ndarray) -> np.ndarray:
    """The next 624 uniforms of every generator (twists the state in place)."""
    _twist(mt)
    return _fixup(_temper(mt).astype(np.float64) * _TO_UNIT)


class RRandom:
    """A scalar R generator: `RRandom(seed)` is R right after `set.seed(seed)`."""

    def __init__(self, seed: int) -> None:
        self._mt = seeded_states([seed])
        self._buffer: list[float] = []
        self._position = 0

    def unif_rand(self) -> float:
        if self._position >= len(self._buffer):
            self._buffer = _uniform_block(self._mt)[0].tolist()
            self._position = 0
        value = self._buffer[self._position]
        self._position += 1
        return value

    def runif(self, n: int) -> np.ndarray:
        return np.array([self.unif_rand() for _ in range(n)])

    def unif_index(self, n: int) -> int:
        """R_unif_index(n): a uniform integer in 0..n-1 by rejection sampling on random bits."""
        if n <= 0:
            return 0
        bits = math.ceil(math.log2(n))
        while True:
            value = 0
            for _ in range(0, bits + 1, 16):
                value = 65536 * value + math.floor(self.unif_rand() * 65536)
            value &= (1 << bits) - 1
            if value < n:
                return value

    def sample(self, n: int) -> np.ndarray:
        """`sample(n)`: a random permutation of 1..n."""
        pool = list(range(n))
        drawn = np.empty(n, dtype=np.int64)
        remaining = n
        for i in range(n):
            j = self.unif_index(remaining)
            drawn[i] = pool[j] + 1
            pool[j] = pool[remaining - 1]
            remaining -= 1
        return drawn

    def exp_rand(self) -> float:
        """A standard exponential draw (Ahrens & Dieter 1972, algorithm SA, as in R)."""
        a = 0.0
        u = self.unif_rand()
        while u <= 0.0 or u >= 1.0:
            u = self.unif_rand()
        while True:
            u += u
            if u > 1.0:
                break
            a += _EXP_Q[0]
        u -= 1.0
        if u <= _EXP_Q[0]:
            return a + u
        i = 0
        ustar = self.unif_rand()
        umin = ustar
        while True:
            ustar = self.unif_rand()
            umin = min(umin, ustar)
            i += 1
            if u <= _EXP_Q[i]:
                break
        return a + umin * _EXP_Q[0]

    def rexp(self, rate: float = 1.0) -> float:
        return self.exp_rand() / rate


class _BitStreams:
    """The 16-bit draws floor(65536 u) of several generators (a column each), 624 rows a time."""

    def __init__(self, seeds: np.ndarray, length: int) -> None:
        self._mt = seeded_states(seeds)
        self.draws = np.empty((0, len(seeds)), dtype=np.uint16)
        self.ensure(length)

    def ensure(self, length: int) -> None:
        blocks = [self.draws]
        total = self.draws.shape[0]
        while total < length:
            # floor(65536 u) with u = y / 2^32 is exactly y >> 16 (R's fixup of u = 0 included)
            _twist(self._mt)
            block = (_temper(self._mt) >> np.uint32(16)).astype(np.uint16)
            blocks.append(np.ascontiguousarray(block.T))
            total += _N
        if len(blocks) > 1:
            self.draws = np.concatenate(blocks, axis=0)


def r_permutations(seeds: Sequence[int] | np.ndarray, n: int, batch_size: int = 1000) -> np.ndarray:
    """`set.seed(s); sample(n)` for each seed s, as 0-based indices (len(seeds) x n, int32)."""
    if n >= 2**31:
        raise ValueError("n is too large")
    seeds = np.asarray(seeds, dtype=np.int64)
    out = np.empty((seeds.shape[0], n), dtype=np.int32)
    for start in range(0, seeds.shape[0], batch_size):
        stop = min(start + batch_size, seeds.shape[0])
        out[start:stop] = _r_permutations_batch(seeds[start:stop], n).T
    return out


def _r_permutations_batch(seeds: np.ndarray, n: int) -> np.ndarray:
    """R's pool-and-swap loop for several generators at once (n x len(seeds), 0-based).

    The indices R_unif_index draws depend only on each generator's stream and on the pool size
    at each step, not on the pool's contents. So they are found first: each pass makes one
    rejection-sampling attempt per generator (one 16-bit draw, two when the pool holds more than
    2^15 values), and the generators whose attempt is accepted move on to the next pool size.
    Then the swaps are replayed step by step for all generators at once. Arrays hold one
    generator per column, so neighbouring generators touch neighbouring memory.
    """
    width = seeds.shape[0]
    if width == 0 or n == 0:
        return np.zeros((n, width), dtype=np.int32)
    sizes = np.arange(n + 1)
    bits_of = np.zeros(n + 1, dtype=np.int64)
    bits_of[2:] = np.ceil(np.log2(sizes[2:])).astype(np.int64)
    mask_of = (np.int64(1) << bits_of) - 1
    draws_of = bits_of // 16 + 1
    draws_of[0] = 0  # a finished generator stops reading its stream
    expected = float(np.sum(draws_of[1:] * (mask_of[1:] + 1) / sizes[1:]))
    streams = _BitStreams(seeds, int(expected + 8.0 * math.sqrt(expected)) + 64)
    # chosen[i] = the index drawn at step i; row n collects the draws of finished generators
    chosen = np.zeros((n + 1, width), dtype=np.int64)
    chosen_flat = chosen.reshape(-1)
    column = np.arange(width, dtype=np.int64)
    step = np.zeros(width, dtype=np.int64)
    pointer = np.zeros(width, dtype=np.int64)
    two_draws = n > 32768
    check_every = 64
    passes = 0
    while True:
        if passes % check_every == 0:
            if step.min() >= n:
                break
            streams.ensure(int(pointer.max()) + 2 * check_every + 2)
            stream_flat = streams.draws.reshape(-1)
        passes += 1
        remaining = n - step
        position = pointer * width + column
        value = stream_flat[position].astype(np.int64)
        if two_draws:
            wide = draws_of[remaining] == 2
            second = stream_flat[position + wide * width].astype(np.int64)
            value = np.where(wide, 65536 * value + second, value)
        pointer += draws_of[remaining]
        value &= mask_of[remaining]
        # a rejected draw is overwritten by the accepted one at the same step
        chosen_flat[step * width + column] = value
        step += value < remaining
    pool = np.empty((n, width), dtype=np.int32)
    pool[:] = np.arange(n, dtype=np.int32)[:, None]
    pool_flat = pool.reshape(-1)
    out = np.empty((n, width), dtype=np.int32)
    for i in range(n):
        slot = chosen[i] * width + column
        out[i] = pool_flat[slot]
        pool_flat[slot] = pool[n - i - 1]
    return out


def r_sample(seed: int, n: int) -> np.ndarray:
    """`set.seed(seed); sample(n)` (1-based, as R prints it)."""
    return r_permutations([seed], n)[0] + 1
