import numpy as np
import pytest

from rearec_keras.experiments.analysis import cosine_similarity_matrix
from rearec_keras.experiments.analysis import equal_groups


def test_equal_groups_sorts_and_splits_evenly():
    values = np.array([9, 1, 5, 3, 7, 2, 8, 4, 6])
    groups = equal_groups(values, 4)
    # sorted: 1 2 3 | 4 5 | 6 7 | 8 9 (first group one larger)
    assert np.bincount(groups).tolist() == [3, 2, 2, 2]
    assert sorted(values[groups == 0]) == [1, 2, 3]
    assert sorted(values[groups == 3]) == [8, 9]
    with pytest.raises(ValueError, match="at least 4 rows"):
        equal_groups([1, 2, 3], 4)


def test_cosine_matrix_by_hand():
    states = np.array([
        [[1.0, 0.0], [0.0, 2.0]],   # orthogonal: cos 0
        [[1.0, 1.0], [3.0, 3.0]],   # parallel: cos 1
    ])
    sim = cosine_similarity_matrix(states)
    np.testing.assert_allclose(sim, [[1.0, 0.5], [0.5, 1.0]])
