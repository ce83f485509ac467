import numpy as np
import pytest

from rearec_keras.utils.validation import check_choice
from rearec_keras.utils.validation import check_float
from rearec_keras.utils.validation import check_int
from rearec_keras.utils.validation import check_rate


def test_check_int():
    assert check_int("k", np.int64(3), 1) == 3 and type(check_int("k", np.int64(3), 1)) is int
    with pytest.raises(ValueError, match=r"`k` must be an int\. Received: k=True"):
        check_int("k", True, 0)
    with pytest.raises(ValueError, match=r"`k` must be an int\. Received: k=2.0"):
        check_int("k", 2.0, 0)
    with pytest.raises(ValueError, match=r"`k` must be an int >= 1\. Received: k=0"):
        check_int("k", 0, 1)
    with pytest.raises(ValueError, match=r"`k` must be an int <= 5\. Received: k=6"):
        check_int("k", 6, 1, 5)


def test_check_float_and_rate():
    assert check_float("t", 2, 0.0, exclusive_minimum=True) == 2.0
    with pytest.raises(ValueError, match=r"`t` must be > 0\.0\. Received: t=0"):
        check_float("t", 0, 0.0, exclusive_minimum=True)
    with pytest.raises(ValueError, match=r"`t` must be a number\. Received: t='1'"):
        check_float("t", "1", 0.0)
    assert check_rate("p", 0) == 0.0
    with pytest.raises(ValueError, match=r"`p` must be < 1\.0\. Received: p=1"):
        check_rate("p", 1)
    with pytest.raises(ValueError, match=r"`p` must be >= 0\.0\. Received: p=-0\.1"):
        check_rate("p", -0.1)
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match=r"`t` must be a finite number"):
            check_float("t", bad, 0.0)


def test_check_choice():
    assert check_choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"`mode` must be one of \['a', 'b'\]\. Received: mode='c'"):
        check_choice("mode", "c", ("a", "b"))
