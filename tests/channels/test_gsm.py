from dunning.channels.gsm import count_segments, is_gsm7


def test_gsm7_single_and_concatenated_limits():
    assert (count_segments("a" * 160).encoding, count_segments("a" * 160).segments) == ("GSM-7", 1)
    assert count_segments("a" * 161).segments == 2
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3
    assert count_segments("").segments == 0


def test_extension_characters_count_double_and_are_never_split():
    assert count_segments("a" * 158 + "€").units == 160
    assert count_segments("a" * 158 + "€").segments == 1
    assert count_segments("a" * 159 + "€").segments == 2
    # 152 + 2 = 154 septets: the euro sign does not fit in the one septet left in part one.
    assert count_segments("a" * 152 + "€" + "a" * 152).segments == 3
    assert count_segments("a" * 151 + "€" + "a" * 153).segments == 2


def test_french_accents_in_the_alphabet_stay_gsm7_and_others_switch_to_ucs2():
    assert is_gsm7("Répondez STOP pour vous désabonner. Déjà réglé ? à é è ù ì ò É Ç")
    for ch in ("ê", "ç", "ô", "œ", "\u202f", "\u2019", "✓"):
        assert not is_gsm7(f"abc{ch}"), ch


def test_ucs2_limits_and_surrogate_pairs():
    assert (count_segments("ê" * 70).encoding, count_segments("ê" * 70).segments) == ("UCS-2", 1)
    assert count_segments("ê" * 71).segments == 2
    assert count_segments("ê" * 134).segments == 2
    assert count_segments("ê" * 135).segments == 3
    assert count_segments("😀" * 35).units == 70 and count_segments("😀" * 35).segments == 1
    # 66 + a pair: the pair moves whole to part two.
    assert count_segments("ê" * 66 + "😀" + "ê" * 66).segments == 3
