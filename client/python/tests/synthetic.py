"""A bit-exact Python port of testing/synthetic_trainer.{h,cc}.

The same loss function, fed by the same std::mt19937_64 stream and drawn with
libstdc++'s std::normal_distribution (Marsaglia polar method; a fresh
distribution per step, as the C++ code makes one per TrainStep), so the C++
and the Python Tuner see identical losses.
"""

import math

_MASK = (1 << 64) - 1


class Mt19937_64:
    """std::mt19937_64."""

    def __init__(self, seed=5489):
        self._mt = [0] * 312
        self._mt[0] = seed & _MASK
        for i in range(1, 312):
            prev = self._mt[i - 1]
            self._mt[i] = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & _MASK
        self._index = 312

    def _twist(self):
        mt = self._mt
        upper, lower = 0xFFFFFFFF80000000, 0x7FFFFFFF
        for i in range(312):
            x = (mt[i] & upper) | (mt[(i + 1) % 312] & lower)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            mt[i] = mt[(i + 156) % 312] ^ xa
        self._index = 0

    def __call__(self):
        if self._index >= 312:
            self._twist()
        y = self._mt[self._index]
        self._index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & _MASK


def _canonical(rng):
    """std::generate_canonical<double, 53>(mt19937_64) as libstdc++ computes it."""
    r = float(rng()) / 18446744073709551616.0  # uint64 -> double (rounded), / 2^64
    return r if r < 1.0 else math.nextafter(1.0, 0.0)


def _normal(rng, mean, stddev):
    """One draw of a fresh std::normal_distribution<double>(mean, stddev)."""
    while True:
        x = 2.0 * _canonical(rng) - 1.0
        y = 2.0 * _canonical(rng) - 1.0
        r2 = x * x + y * y
        if not (r2 > 1.0 or r2 == 0.0):
            break
    mult = math.sqrt(-2.0 * math.log(r2) / r2)
    return (y * mult) * stddev + mean


class SyntheticTrainer:
    """See testing/synthetic_trainer.h."""

    def __init__(self, seed, divergence_lr=0.8):
        self.lr = 0.0
        self.g = 2.0
        self.diverged = False
        self.steps = 0
        self._saved = (2.0, False)
        self._best = (2.0, False)
        self._divergence_lr = divergence_lr
        self._rng = Mt19937_64(seed)

    def train_step(self):
        self.steps += 1
        if self.lr > self._divergence_lr:
            self.diverged = True
        if self.diverged:
            return math.nan
        floor = 2.0 * self.lr
        rate = min(0.5, 5.0 * self.lr)
        self.g = floor + (self.g - floor) * (1.0 - rate)
        return 0.1 + self.g + _normal(self._rng, 0.0, 0.01 * (0.1 + self.g))

    def validation_loss(self):
        return math.nan if self.diverged else 0.12 + self.g

    def save(self):
        self._saved = (self.g, self.diverged)

    def restore(self):
        self.g, self.diverged = self._saved

    def save_best(self):
        self._best = (self.g, self.diverged)

    def restore_best(self):
        self.g, self.diverged = self._best


class Slot:
    """A checkpoint slot of a SyntheticTrainer that counts its operations."""

    def __init__(self, trainer, best=False):
        self.trainer = trainer
        self.best = best
        self.saves = 0
        self.restores = 0
        self.fail_next = 0  # Operations to fail before succeeding (tests).

    def _maybe_fail(self, what):
        if self.fail_next > 0:
            self.fail_next -= 1
            raise OSError(f"injected {what} failure")

    def save(self):
        self._maybe_fail("save")
        (self.trainer.save_best if self.best else self.trainer.save)()
        self.saves += 1

    def restore(self):
        self._maybe_fail("restore")
        (self.trainer.restore_best if self.best else self.trainer.restore)()
        self.restores += 1
