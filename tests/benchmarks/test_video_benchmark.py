"""The video benchmark's section puts every metric beside its real-data row."""

from benchmarks.video import format_section


def test_format_section_puts_samples_beside_real_clips():
    keys = ["frame_accuracy", "fid_frames", "motion_rmse_px", "speed_error", "fvd"]
    metrics = {k: 1.0 for k in keys} | {f"{k}_real": 0.5 for k in keys}
    result = {
        "model": "moving-digits",
        "n": 20,
        "frames": 320,
        "shape": (16, 1, 32, 32),
        "steps": 25,
        "sampler": "dpmpp-2m",
        "guidance": 2.0,
        "seconds": 10.0,
        "frames_per_s": 32.0,
        "threads": 1,
        "params": 1_050_000,
        "num_real": 256,
        "metrics": metrics,
    }
    text = format_section(result, "python -m benchmarks.video")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| samples | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | - |")
    assert rows[2].startswith("| real clips | 0.500 | 0.500 | 0.500 | 0.500 | 0.500 | - |")
    assert "32.0 frames/s" in text and "16 frames of 32x32" in text
