"""The text context of a prompted model is encoded once per batch while sampling (it does not
change between steps): the samples are bit-identical to encoding it at every step, with CFG on
every step and with a guidance interval (batches of B and 2B ids), over several batches."""

import pytest
import torch
from fick.domains.audio.config import DiffusionConfig
from fick.domains.audio.diffusion_task import LatentDiffusionTask
from fick.domains.audio.features import MelSettings
from fick.domains.audio.prompting import PromptConditioner
from fick.domains.audio.spoken_digits import DIGITS, caption
from fick.domains.audio.text import caption_vocabulary

PROMPTS = "three, spoken fast|seven, spoken slowly|seven|three, in a low voice"


def _prompted_task():
    words = caption_vocabulary([caption("three", 230, 80, "en"), caption("seven", 130, 20, "en")])
    info = {
        "mel": MelSettings(n_mels=32, hop_length=320).to_dict(), "mel_mean": -8.0,
        "mel_std": 3.0, "class_names": list(DIGITS), "duration": 0.2,
        "caption_vocabulary": words,
    }  # fmt: skip
    cfg = DiffusionConfig(
        autoencoder=None, conditioning="prompt", text_width=16, text_depth=1, text_heads=2,
        channels=8, channel_mult=[1], attention=False, steps=4,
    )  # fmt: skip
    torch.manual_seed(0)
    task = LatentDiffusionTask(cfg, info, None).eval()
    for p in task.backbone.parameters():  # the zero-initialised cross-attention ignores text
        torch.nn.init.normal_(p, std=0.1)
    return task


def _sample(task, cache: bool, **options):
    calls = []
    hook = task.prompts.encoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    previous = PromptConditioner.cache_context
    PromptConditioner.cache_context = cache
    try:
        clips = task.sample(
            4, condition={"prompt": PROMPTS}, guidance=3.0, batch_size=2,
            generator=torch.Generator().manual_seed(0), **options,
        )  # fmt: skip
    finally:
        PromptConditioner.cache_context = previous
        hook.remove()
    return torch.stack([c.audio for c in clips]), calls


@pytest.mark.parametrize(
    "options, encodings_per_batch",
    [({}, 1), ({"guidance_interval": "0.3-0.7"}, 2)],  # 2: the 2B (guided) and B ids
)
def test_cached_text_context_gives_the_same_samples_with_fewer_encodings(
    options, encodings_per_batch
):
    task = _prompted_task()
    every_step, calls_every_step = _sample(task, cache=False, **options)
    cached, calls_cached = _sample(task, cache=True, **options)
    assert torch.equal(cached, every_step)
    assert len(calls_every_step) == 2 * 4  # two batches x four steps
    assert len(calls_cached) == 2 * encodings_per_batch
    # the prompts matter: another set gives other audio (so equality above is not vacuous)
    other = task.sample(4, condition={"prompt": "seven"}, guidance=3.0, batch_size=2,
                        generator=torch.Generator().manual_seed(0), **options)
    assert not torch.equal(torch.stack([c.audio for c in other]), cached)
    assert task.prompts._context_cache is None  # nothing kept after sampling


def test_training_never_uses_the_cache():
    task = _prompted_task().train()
    ids = task.prompts.ids(["three", "seven"])
    first = task.prompts.context(ids, None)[2]
    second = task.prompts.context(ids, None)[2]
    assert first is not second and first.requires_grad


def test_the_cache_tells_prompts_of_the_same_shape_apart():
    task = _prompted_task()
    a, b = task.prompts.ids(["three", "seven"]), task.prompts.ids(["seven", "seven"])
    with torch.no_grad():
        expected = [task.prompts.context(ids, None)[2] for ids in (a, b)]
        with task.prompts.cached_context():
            got = [task.prompts.context(ids, None)[2] for ids in (a, b, a)]
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    assert got[2] is got[0]  # the repeat is served from the cache
