"""Prompt table: word accuracy, pitch and speed direction on held-out combinations.

    python -m benchmarks.audio_prompts --model PROMPTED_MODEL --classifier CLASSIFIER --n 20

For each of the ten word x speed x pitch combinations that ``data.heldout_combinations`` kept
out of training (``spoken_digits.heldout_combination``), ``--n`` clips are sampled from the
caption of that combination (accent: "an English"). Word accuracy: the metric classifier's
argmax is the asked word. Pitch / speed: ``prompt_metrics.direction_accuracy`` against the
median f0 / voiced duration of the real training clips of the same word. The same measures of
the real test clips of those combinations (their own captions) are the reference row: how well
the measures themselves follow the captions. Writes section "audio-prompts" of BENCHMARKS.md
(``--benchmarks FILE``) unless ``--no-write``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks._sections import add_output_arguments, command_line, publish, utc_stamp


def _measures(audios, rate):
    from fick.domains.audio.prompt_metrics import median_f0, voiced_duration

    return [median_f0(a, rate) for a in audios], [voiced_duration(a, rate) for a in audios]


def _row(name, words, parts, audios, rate, medians, classifier, front):
    from fick.domains.audio.prompt_metrics import direction_accuracy

    f0, dur = _measures(audios, rate)
    pitch_asked = [{0: -1, 1: 0, 2: +1}[p] for _, _, p in parts]
    speed_asked = [{0: +1, 1: 0, 2: -1}[s] for _, s, _ in parts]  # slow: longer
    acc = float("nan")
    if classifier is not None:
        probs, _ = classifier.predict(front.log_mel(torch.stack(audios)))
        acc = float(
            np.mean([classifier.class_names[int(i)] == w for i, w in zip(probs.argmax(1), words)])
        )
    return (
        name,
        len(audios),
        acc,
        direction_accuracy(f0, pitch_asked, [medians[w][0] for w in words]),
        direction_accuracy(dur, speed_asked, [medians[w][1] for w in words]),
    )


def main(argv=None) -> int:
    from fick.domains.audio import plugin
    from fick.domains.audio.config import AudioDataConfig
    from fick.domains.audio.spoken_digits import (
        DIGITS,
        caption,
        caption_parts,
        heldout_combination,
        heldout_combinations,
    )
    from fick.pipelines import modelio

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--classifier", help="metric classifier (default: the one the model embeds)")
    p.add_argument("--n", type=int, default=20, help="clips per held-out combination")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    add_output_arguments(p)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = modelio.load(args.model)
    task = loaded.task.eval()
    classifier = modelio.load(args.classifier).task if args.classifier else task.classifier
    data = {
        k: v for k, v in (loaded.data or {}).items() if k in AudioDataConfig.__dataclass_fields__
    }
    bundle = plugin.build_data(
        "diffusion", AudioDataConfig(**{**data, "heldout_combinations": True}), seed=0
    )
    rate = task.front.settings.sample_rate
    medians = {}
    train_words = [bundle.info["class_names"][int(i)] for i in bundle.train.labels]
    f0, dur = _measures(list(bundle.train.audio), rate)
    for w in DIGITS:
        idx = [i for i, x in enumerate(train_words) if x == w]
        medians[w] = (
            float(np.nanmedian([f0[i] for i in idx])),
            float(np.median([dur[i] for i in idx])),
        )
    combos = heldout_combinations()
    speeds, pitches = (130, 180, 230), (20, 50, 80)
    prompts = [caption(w, speeds[s], pitches[q], "en") for w, s, q in combos for _ in range(args.n)]
    g = torch.Generator().manual_seed(0)
    clips = task.sample(len(prompts), steps=args.steps, condition={"prompt": prompts}, generator=g)
    parts = [caption_parts(c) for c in prompts]
    rows = [
        _row(
            "samples",
            [x[0] for x in parts],
            parts,
            [c.audio for c in clips],
            rate,
            medians,
            classifier,
            task.front,
        )
    ]
    test = bundle.test
    held = [
        (i, caption_parts(c))
        for i, c in enumerate(test.captions)
        if caption_parts(c) and heldout_combination(*caption_parts(c))
    ]
    if held:
        real = [test.audio[i] for i, _ in held]
        words = [x[0] for _, x in held]
        row = _row("real test clips", words, [x for _, x in held], real, rate, medians, classifier,
                   task.front)  # fmt: skip
        rows.insert(0, row)
    lines = [
        f"Held-out combinations: {len(combos)} of 90 word x speed x pitch, {args.n} clips each, "
        f"{args.steps} steps; direction = on the asked side of the word's median in training.",
        "",
        "| clips | n | word accuracy | pitch direction | speed direction |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.3f} |" for r in rows]
    body = "\n".join(lines)
    head = f"`{command_line('audio_prompts', argv)}` ({utc_stamp()})"
    publish(args, "audio-prompts", f"{head}\n\n{body}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
