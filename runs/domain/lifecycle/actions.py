"""Names of the lifecycle actions: the hot-state steps a transition performs.

The domain only names them; ``runs.services.hot_state`` performs each one against
Redis after the database decision is committed. Every action is idempotent and
derived from the run as stored, so running it again re-projects the same state.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    WRITE_PROJECTION = "write_projection"  # run:{rid} and run:{rid}:trip
    CLAIM_RESOURCES = "claim_resources"  # vehicle/trip/operator :current_run
    WRITE_VEHICLE_METADATA = "write_vehicle_metadata"  # vehicle:{vid}:metadata
    SYNC_STATE = "sync_state"  # run_lifecycle_state in run:{rid}
    ADD_TO_TRACKING = "add_to_tracking"  # runs:tracking
    ADD_TO_IN_PROGRESS = "add_to_in_progress"  # runs:in_progress
    REMOVE_FROM_IN_PROGRESS = "remove_from_in_progress"
    REMOVE_FROM_SETS = "remove_from_sets"  # runs:tracking, runs:in_progress, runs:last_seen
    EXPIRE_PROJECTION = "expire_projection"  # a finished run's hashes expire after a while
    # A cancelled run stays projected with its trip and joins runs:canceled for a while,
    # so that the GTFS-RT TripUpdates feed announces the trip as CANCELED.
    PUBLISH_CANCELLATION = "publish_cancellation"
    RELEASE_RESOURCES = "release_resources"  # only claims that still point at this run
