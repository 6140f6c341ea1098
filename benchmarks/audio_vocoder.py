"""Vocoder table: PESQ-WB, STOI, MR-STFT, log-mel L1 and speed on held-out voices.

    python -m benchmarks.audio_vocoder --vocoder models:/spoken-digits-vocoder@current --n 100
    python -m benchmarks.audio_vocoder --vocoder none --n 100   # Griffin-Lim rows only

Clips: the first ``--n`` clips of the test split of the spoken digits (voices never heard in
training, see ``spoken_digits.variant_split``) with the vocoder's own mel settings; each vocoder
inverts the log-mel of the real clip and is scored against that clip's waveform. The real
recording is the top row (each score of the reference against itself: the ceiling). Griffin-Lim
at 32 and 64 iterations needs no training. ``--vocoder`` takes a vocoder model or a diffusion
model that embeds one. Writes section "audio-vocoder" of BENCHMARKS.md
(``--benchmarks FILE``) unless ``--no-write``.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks._sections import add_output_arguments, command_line, publish, utc_stamp


def _vocoder_task(ref: str):
    from fick.pipelines import modelio

    loaded = modelio.load(ref)
    task = loaded.task
    if task.kind == "diffusion":
        if task.vocoder is None:
            raise SystemExit(f"{ref} embeds no neural vocoder (it uses Griffin-Lim)")
        return task.vocoder, loaded.data
    if task.kind != "vocoder":
        raise SystemExit(f"{ref} is a {task.kind} model: pass a vocoder or a diffusion model")
    return task, loaded.data


def held_out_clips(info: dict, data: dict | None, n: int, per_class: int):
    """(log_mel, audio) of the first ``n`` test clips, built with the model's mel settings."""
    from fick.domains.audio import plugin
    from fick.domains.audio.config import AudioDataConfig

    mel = info["mel"]
    cfg = dict(data or {})
    cfg.update(
        dataset=cfg.get("dataset", "spoken-digits"),
        per_class=cfg.get("per_class", per_class),
        sample_rate=mel["sample_rate"],
        n_fft=mel["n_fft"],
        hop_length=mel["hop_length"],
        n_mels=mel["n_mels"],
        f_min=mel["f_min"],
        f_max=mel["f_max"],
    )
    cfg = {k: v for k, v in cfg.items() if k in AudioDataConfig.__dataclass_fields__}
    bundle = plugin.build_data("vocoder", AudioDataConfig(**cfg), seed=0)
    if bundle.test is None:
        raise SystemExit("the data has no test split: nothing held out to score on")
    return bundle.test.log_mel[:n], bundle.test.audio[:n]


def table(rows: list[tuple[str, dict]], n: int) -> str:
    lines = [
        f"Held-out voices, {n} clips of 1 s at 16 kHz; per CPU second on "
        f"{torch.get_num_threads()} thread(s). PESQ-WB and STOI higher is better; MR-STFT "
        "(auraloss defaults) and log-mel L1 lower is better.",
        "",
        "| vocoder | PESQ-WB | STOI | MR-STFT | log-mel L1 | x real time |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in rows:
        speed = "-" if m["x_real_time"] is None else f"{m['x_real_time']:.1f}"
        lines.append(
            f"| {name} | {m['pesq_wb']:.2f} | {m['stoi']:.3f} | {m['mr_stft']:.3f} | "
            f"{m['log_mel_l1']:.3f} | {speed} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    from fick.domains.audio.task_base import front_end_from_info
    from fick.domains.audio.vocoder_metrics import score_vocoder

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocoder", required=True, help="model reference, or 'none'")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--per-class", type=int, default=300, help="spoken digits set without a model")
    p.add_argument("--threads", type=int, default=1)
    add_output_arguments(p)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    neural, data = (None, None) if args.vocoder == "none" else _vocoder_task(args.vocoder)
    if neural is not None:
        info = neural.info
    else:
        from fick.domains.audio.features import MelSettings

        info = {"mel": MelSettings().to_dict()}
    log_mel, audio = held_out_clips(info, data, args.n, args.per_class)
    front = front_end_from_info(info)
    it = iter(audio.split(16))
    rows = [("real recording", score_vocoder(lambda m: next(it), log_mel, audio, front))]
    rows[0][1]["x_real_time"] = None
    for iters in (32, 64):
        rows.append(
            (
                f"Griffin-Lim, {iters} iterations",
                score_vocoder(
                    lambda m, k=iters: front.griffin_lim(m, n_iter=k), log_mel, audio, front
                ),
            )
        )
    if neural is not None:
        neural.eval()
        params = sum(q.numel() for q in neural.net.parameters()) / 1e6
        rows.append(
            (
                f"neural (Vocos GAN, {params:.2f} M)",
                score_vocoder(neural.vocode, log_mel, audio, front),
            )
        )
    body = table(rows, log_mel.shape[0])
    head = f"`{command_line('audio_vocoder', argv)}` ({utc_stamp()})"
    publish(args, "audio-vocoder", f"{head}\n\n{body}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
