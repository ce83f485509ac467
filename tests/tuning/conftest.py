import pytest


@pytest.fixture(scope="session")
def tiny_config(interactions):
    from rearec_keras.experiments.config import RunConfig

    return RunConfig(
        dataset="table", data_path=interactions, max_length=10, hidden_dim=16,
        intermediate_dim=32, batch_size=64, eval_batch_size=64, epochs=1, patience=2,
        learning="erl",
    )


@pytest.fixture(scope="session")
def tiny_split(tiny_config):
    from rearec_keras.experiments.runner import prepare_data

    return prepare_data(tiny_config)[1]
