"""Guards: a broken night writes nothing (SPEC §12). ``inputs`` and ``outputs`` judge, pure;
``stage`` takes the baseline from the state store and stops or accepts."""
