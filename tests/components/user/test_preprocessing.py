"""preprocessing_fn on a few rows: the actual transformed values."""
import math

import numpy as np
import pytest

from components.user.preprocessing import transformed_name
from tests.components.transform_util import run_transform


def _row(species, island, bill, mass, sex):
    as_list = lambda v, dtype: np.array([] if v is None else [v], dtype=dtype)  # noqa: E731
    return {"species": as_list(species, object), "island": as_list(island, object),
            "bill_length_mm": as_list(bill, np.float32), "bill_depth_mm": as_list(18.0, np.float32),
            "flipper_length_mm": as_list(200, np.int64), "body_mass_g": as_list(mass, np.int64),
            "sex": as_list(sex, object), "year": as_list(2007, np.int64)}


ROWS = [
    _row("Adelie", "Dream", 30.0, 3000, "male"),
    _row("Gentoo", "Biscoe", 40.0, None, "female"),
    _row("Adelie", "Dream", None, 5000, None),
    _row("Adelie", "Biscoe", 50.0, 4000, "male"),
]


@pytest.fixture(scope="module")
def transformed():
    return run_transform(ROWS)


def test_numbers_are_z_scored_over_present_values_and_missing_ones_imputed_to_the_mean(transformed):
    bill = [float(r[transformed_name("bill_length_mm")][0]) for r in transformed]
    std = math.sqrt(((30 - 40) ** 2 + 0 + (50 - 40) ** 2) / 3)  # population std of 30, 40, 50
    assert bill == pytest.approx([-10 / std, 0.0, 0.0, 10 / std], abs=1e-5)
    mass = [float(r[transformed_name("body_mass_g")][0]) for r in transformed]
    mass_std = math.sqrt(((3000 - 4000) ** 2 + (5000 - 4000) ** 2 + 0) / 3)
    assert mass == pytest.approx([-1000 / mass_std, 0.0, 1000 / mass_std, 0.0], abs=1e-5)


def test_constant_feature_becomes_zero_not_nan(transformed):
    assert all(float(r[transformed_name("bill_depth_mm")][0]) == 0.0 for r in transformed)


def test_strings_get_frequency_vocabulary_and_missing_goes_to_oov(transformed):
    sex = [int(r[transformed_name("sex")][0]) for r in transformed]
    # male (2) before female (1); the missing value lands in the OOV bucket after them.
    assert sex == [0, 1, 2, 0]
    island = [int(r[transformed_name("island")][0]) for r in transformed]
    assert island[0] == island[2] and island[1] == island[3] and island[0] != island[1]


def test_label_is_indexed_and_excluded_columns_are_dropped(transformed):
    species = [int(r[transformed_name("species")][0]) for r in transformed]
    assert species == [0, 1, 0, 0]  # Adelie is most frequent
    assert transformed_name("year") not in transformed[0]


def _label_rows(values, dtype):
    return [{"y": np.array([v], dtype=dtype), "x": np.array([float(i)], dtype=np.float32)}
            for i, v in enumerate(values)]


def test_an_integer_class_label_becomes_its_class_id_without_a_vocabulary():
    import tensorflow as tf

    spec = {"y": tf.io.FixedLenFeature([1], tf.int64), "x": tf.io.FixedLenFeature([1], tf.float32)}
    out = run_transform(_label_rows([3, 1, 2, 3], np.int64), spec=spec,
                        custom_config={"label": "y", "label_classes": ["1", "2", "3"]})
    # Class id = value - the smallest class, whatever the frequencies (a vocabulary would
    # put the most frequent class, 3, first).
    assert [int(r[transformed_name("y")][0]) for r in out] == [2, 0, 1, 2]


def test_a_regression_target_passes_through_as_a_float():
    import tensorflow as tf

    spec = {"y": tf.io.FixedLenFeature([1], tf.float32), "x": tf.io.FixedLenFeature([1], tf.float32)}
    out = run_transform(_label_rows([12.5, 40.0, 7.25], np.float32), spec=spec,
                        custom_config={"label": "y", "task": "regression"})
    assert [float(r[transformed_name("y")][0]) for r in out] == [12.5, 40.0, 7.25]
    # The features around it are z-scored as usual: 0, 1, 2 have mean 1, deviation sqrt(2/3).
    assert [float(r[transformed_name("x")][0]) for r in out] == pytest.approx(
        [-1.5 ** 0.5, 0.0, 1.5 ** 0.5], abs=1e-5)
