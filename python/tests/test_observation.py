"""The observation as the package builds it from the protocol's JSON and arrays."""

import numpy as np

from scopepilot import DoseMap, Observation


def _wire(**extra):
    envelope = {
        "stage_x_nm": [-500, 500], "stage_y_nm": [-500, 500], "max_step_nm": 100, "fov_nm": [1, 100],
        "dwell_us": [1, 10], "pixels": [64, 512], "dose_per_area_e_per_A2": 1e6, "dose_per_session_e": 1e16,
        "commands_per_minute": 600, "reference_frames": 8,
    }
    wire = {
        "step": 3, "elapsed_s": 1.5, "frame": None, "defects": [], "communities": [], "chips": [], "drift": None,
        "condition_score": None, "outcomes": [], "position": None,
        "map": {"visits": [], "electrons": 0.0, "area_nm2": 0.0}, "envelope": envelope, "retraining": None,
    }
    wire.update(extra)
    return wire


def test_the_dose_map_comes_with_its_grid_and_finds_the_peak_under_a_field_of_view():
    values = np.zeros((4, 5), dtype=np.float32)
    values[2, 3] = 7.0  # the cell x in [30, 40), y in [20, 30) nm
    grid = {"origin_x_nm": 0.0, "origin_y_nm": 0.0, "cell_nm": 10.0, "peak_e_per_A2": 7.0}
    observation = Observation.from_wire(_wire(dose_map=grid), {"dose_map": values})
    dose = observation.dose_map
    assert isinstance(dose, DoseMap)
    assert dose.values.shape == (4, 5) and dose.cell_nm == 10.0
    assert dose.peak(35, 25, 2) == 7.0
    assert dose.peak(15, 25, 2) == 0.0, "a field of view beside the dosed cell"
    assert dose.peak(28, 25, 6) == 7.0, "a field of view that reaches into it"
    assert dose.peak(-500, -500, 10) == 0.0, "outside the map"


def test_without_the_array_there_is_no_dose_map():
    observation = Observation.from_wire(_wire())
    assert observation.dose_map is None and observation.thumbnail is None and observation.step == 3


def test_a_frames_pixel_size_reading_arrives_as_a_dataclass():
    scan = {"center_x_nm": 0.0, "center_y_nm": 0.0, "fov_x_nm": 4.0, "fov_y_nm": 4.0, "width": 128, "height": 128,
            "dwell_us": 10.0, "rotation_deg": 0.0}
    frame = {"seq": 1, "scan": scan, "stage": {"x_nm": 0.0, "y_nm": 0.0}, "time": 1.0, "purpose": None,
             "dose_e_per_A2": 10.0, "channels": [],
             "pixel_size": {"claimed_angstrom": 0.3125, "measured_angstrom": 0.2, "consistent": False}}
    reading = Observation.from_wire(_wire(frame=frame), {}).frame.pixel_size
    assert reading.claimed_angstrom == 0.3125 and reading.measured_angstrom == 0.2 and not reading.consistent
    frame["pixel_size"] = None
    assert Observation.from_wire(_wire(frame=frame), {}).frame.pixel_size is None


def test_a_communitys_part_of_the_session_arrives_and_is_none_where_the_daemon_sends_none():
    channels = [{"name": "HAADF", "mean": 0.1, "std": 0.01}]
    communities = [
        {"id": 1, "chips": 4, "area_nm2": 5.8, "defects": 0, "x_nm": 1.0, "y_nm": 2.0, "channels": channels,
         "part": "vacuum"},
        {"id": 2, "chips": 3, "area_nm2": 4.3, "defects": 1, "x_nm": 3.0, "y_nm": 2.0, "channels": channels,
         "part": None},
        # From a daemon older than the field.
        {"id": 3, "chips": 1, "area_nm2": 1.4, "defects": 0, "x_nm": 5.0, "y_nm": 2.0, "channels": channels},
    ]
    observation = Observation.from_wire(_wire(communities=communities), {})
    assert [c.part for c in observation.communities] == ["vacuum", None, None]
    assert [c.id for c in observation.communities if c.part == "vacuum"] == [1]
