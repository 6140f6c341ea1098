"""Offline speech synthesis with eSpeak NG, driven through ctypes.

The PyPI wheel ``espeakng-loader`` ships ``libespeak-ng.so`` and its ``espeak-ng-data`` folder,
so a fresh machine needs only pip: no system package, no binary, no network. The library keeps
global state, so one process initialises it once (``EspeakSynth`` is a lazily built singleton)
and every call is serialised by a lock.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

__all__ = ["EspeakSynth", "espeak_synth"]

# Constants of speak_lib.h (espeak-ng 1.52).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_EE_OK = 0


def FickError(message: str) -> Exception:  # noqa: N802 - stands in for the class
    """fick's user-facing error, imported late: the synthesis worker runs as a bare script
    (numpy + ctypes only) so that it starts fast."""
    try:
        from fick.domains.base import FickError as error
    except ImportError:  # pragma: no cover - the worker outside an installed fick
        return RuntimeError(message)
    return error(message)


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakSynth:
    """eSpeak NG in synchronous mode: ``synth(text, voice, ...)`` returns int16 samples."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as err:  # pragma: no cover - it is a declared dependency
            raise FickError(
                "espeakng-loader is not installed: pip install espeakng-loader"
            ) from err
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path().encode()
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if self.sample_rate <= 0:
            raise FickError(
                f"eSpeak NG failed to initialise with data at {data_path.decode()}: "
                "reinstall espeakng-loader"
            )
        self._chunks: list[np.ndarray] = []
        # Keep a reference: ctypes frees the trampoline when the Python object dies.
        self._callback = _CALLBACK(self._collect)
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    def _collect(self, wav, num_samples, events) -> int:
        if wav and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0  # 0: continue synthesis

    def synth(
        self,
        text: str,
        voice: str = "en",
        *,
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        volume: int = 100,
    ) -> np.ndarray:
        """Speak ``text`` with ``voice`` (e.g. ``"en-us+m3"``): int16 samples at ``sample_rate``.

        rate is in words per minute (80..450), pitch and pitch_range in 0..100.
        """
        with self._lock:
            lib = self._lib
            if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise FickError(f"eSpeak NG has no voice {voice!r}: use e.g. 'en', 'en-us+f2'")
            for param, value in (
                (_PARAM_RATE, rate),
                (_PARAM_PITCH, pitch),
                (_PARAM_RANGE, pitch_range),
                (_PARAM_VOLUME, volume),
            ):
                lib.espeak_SetParameter(param, int(value), 0)
            self._chunks = []
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            lib.espeak_Synchronize()
            if status != _EE_OK:
                raise FickError(f"eSpeak NG could not synthesise {text!r} (status {status})")
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_SINGLETON: EspeakSynth | None = None


def espeak_synth() -> EspeakSynth:
    """The process-wide eSpeak NG instance (the C library has global state)."""
    global _SINGLETON
    if _SINGLETON is None:
        _SINGLETON = EspeakSynth()
    return _SINGLETON


def synthesise_in_subprocess(requests: list[dict], timeout: float = 600.0) -> list[np.ndarray]:
    """Synthesise ``requests`` (dicts of ``synth`` keyword arguments, with ``text``) in order in
    a fresh Python process; return int16 arrays at the library's rate (22,050 Hz).

    Why a subprocess: eSpeak NG carries state from one utterance to the next (pitch phase,
    pauses), and re-initialising does not reset it, so bytes depend on everything spoken before
    in the process. A fresh process that speaks the same list in the same order is
    byte-reproducible; it also keeps a crash in the C library from taking down the caller.
    """
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        req_path, out_path = Path(tmp) / "requests.json", Path(tmp) / "audio.npz"
        req_path.write_text(json.dumps(requests))
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), str(req_path), str(out_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise FickError(
                f"eSpeak NG synthesis failed: {proc.stderr.strip().splitlines()[-1:]}: "
                "check that espeakng-loader is installed"
            )
        with np.load(out_path) as arrays:
            return [arrays[f"a{i}"] for i in range(len(requests))]


def _worker(req_path: str, out_path: str) -> None:
    import json

    synth = espeak_synth()
    # Seed eSpeak NG's own noise generator (used by breathy / whisper voices) once per process.
    synth._lib.espeak_ng_SetRandSeed(0)
    requests = json.loads(open(req_path).read())
    arrays = {f"a{i}": synth.synth(**req) for i, req in enumerate(requests)}
    np.savez(out_path, **arrays)


if __name__ == "__main__":
    import sys

    _worker(sys.argv[1], sys.argv[2])
