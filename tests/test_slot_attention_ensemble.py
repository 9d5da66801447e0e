"""SlotAttentionPolicy's opt-in ensemble (members) and fixed input-score blend (skip_channel)."""
import pytest
import torch

from heurist.policies.nets import SlotAttentionPolicy

CFG = {"slot_dim": 11, "request_dim": 8, "embed_dim": 8, "n_heads": 2, "n_layers": 1, "ff_dim": 16}


def _inputs():
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1, 4] = False
    return torch.rand(3, 5, 11, generator=g), torch.rand(3, 8, generator=g), mask


def test_defaults_keep_the_single_scorer_config_and_weights():
    """members=1 and no skip: the config and state-dict keys of the shipped artifact's format."""
    net = SlotAttentionPolicy(**CFG)
    assert set(net.config) == {*CFG, "clip"}
    assert all(not k.startswith("members") for k in net.state_dict())


def test_members_average_their_logits_and_skip_adds_a_channel():
    """An ensemble's logits are its members' mean; skip adds w * channel c; masked slots stay -inf."""
    torch.manual_seed(0)
    singles = [SlotAttentionPolicy(**CFG) for _ in range(3)]
    ens = SlotAttentionPolicy(**CFG, members=3, skip_channel=6, skip_weight=2.5)
    for dst, src in zip(ens.members, singles):
        dst.load_state_dict(src.state_dict())
    assert ens.config["members"] == 3 and ens.config["skip_channel"] == 6
    slot, req, mask = _inputs()
    with torch.no_grad():
        want = torch.stack([s(slot, req, mask).masked_fill(~mask, 0.0) for s in singles]).mean(0)
        want = (want + 2.5 * slot[..., 6]).masked_fill(~mask, float("-inf"))
        got = ens(slot, req, mask)
    torch.testing.assert_close(got, want)
    assert torch.isinf(got[1, 4]) and SlotAttentionPolicy(**ens.config).config == ens.config
    with pytest.raises(ValueError, match="skip_channel 11"):
        SlotAttentionPolicy(**CFG, skip_channel=11)
    with pytest.raises(ValueError, match="members 0"):
        SlotAttentionPolicy(**CFG, members=0)
