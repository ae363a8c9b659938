from __future__ import annotations

import pytest
from transformers import HfArgumentParser

from biobft.train.config import BFTConfig


def test_config_bad_values():
    with pytest.raises(ValueError, match="unknown loss_type 'ce'; valid loss types: sft"):
        BFTConfig(loss_type="ce", use_cpu=True)
    with pytest.raises(ValueError, match="group_size must be an integer >= 1"):
        BFTConfig(group_size=0, use_cpu=True)
    with pytest.raises(ValueError, match="gamma"):
        BFTConfig(conf_gamma=-1.0, use_cpu=True)
    with pytest.raises(ValueError, match="unknown bft_variant"):
        BFTConfig(bft_variant="nope", use_cpu=True)
    cfg = BFTConfig(use_cpu=True)
    assert cfg.report_to == [] or cfg.report_to in ("none", ["none"])
    assert cfg.lora_targets == "all-linear"


def test_hf_argument_parser_gives_the_cli(tmp_path):
    (cfg,) = HfArgumentParser(BFTConfig).parse_args_into_dataclasses(
        ["--loss_type", "bft", "--bft_variant", "group_normalized", "--group_size", "8",
         "--output_dir", str(tmp_path), "--use_cpu", "--lora_r", "4",
         "--lora_target_modules", "q_proj, v_proj"]
    )  # fmt: skip
    assert (cfg.loss_type, cfg.bft_variant, cfg.group_size) == ("bft", "group_normalized", 8)
    assert cfg.lora_targets == ["q_proj", "v_proj"]
    with pytest.raises(ValueError, match="lora_r must be >= 0"):
        BFTConfig(lora_r=-1, use_cpu=True)
