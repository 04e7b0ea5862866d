"""Every session-state key the app uses (st.session_state[...] and the page URL's query parameter), each
with what it holds. Pages, app_session and app_widgets read and write session state only through
these names; their defaults are set by app_session.init_state.

Constants only: no imports, no logic.
"""

EXPLORER = "explorer"            # the session's Explorer (live or read-only from a record)
RUN_PARAM = "run"                # the page URL's query parameter holding the live run's id
RUN_NOTICE = "run_notice"        # a sentence about the run the URL named (not found, ...), shown once
JOB = "job"                      # the running / last round Job, or None
JOB_ACK = "job_ack"              # id() of the Job whose end the pages have already redrawn for
SYNC_JOBS = "sync_jobs"          # tests: wait for a started Job before the script continues
ROUND_VIEW = "round_view"        # the "Round" slider: which round the Rounds page shows
ROUND_FOLLOW = "round_follow"    # number of rounds when the slider was last drawn (follow latest)
COLOR_BY = "color_by"            # map colouring: "true class" or "prediction"
LAYOUT_KIND = "layout_kind"      # map layout: "PCA" or "UMAP"
INSPECT_INDEX = "inspect_index"  # the Inspect number input ("Point index")
INSPECT_PICK = "inspect_pick"    # the Inspect selectbox over the points of the last box/lasso selection
INSPECTED = "inspected"          # (index, how) of the point Inspect shows and the map rings; how: "clicked",
                                 #   "selected" (box/lasso, then the selectbox) or "typed"; None: none chosen yet
MAP_POINTS = "map_points"        # dataset indices of the last box/lasso selection on the map ([] after a click)
MAP_EMPTY = "map_empty"          # True after a box/lasso around no point: "No points in that selection", once
PICK_NUMBERS = "pick_numbers"    # Rounds: the "Pick numbers" toggle (the map's pick-order labels; on by default)
MAP_KEY = "map"                  # the map chart's selection state
N_TO_RUN = "n_to_run"            # "Rounds to run" number input
UPLOAD_DATASET = "upload_dataset"  # (upload key, Dataset) of the last good file/folder upload (upload_once)
FLASH = "flash"                  # a success sentence to show once after a rerun
ROUND_ERROR = "round_error"      # a start-rounds error sentence, shown once on the Rounds page
COMPARE_JOB = "compare_job"      # the running / last comparison Job, or None
COMPARISON = "comparison"        # the Comparison shown on the Compare page (finished or opened), or None
COMPARE_ACK = "compare_ack"      # id() of the comparison Job whose end the page has already drawn
UPLOAD_GEN = "upload_gen"        # {uploader's base key: n}: uploads used so far (app_widgets.uploader_key)
COMPARE_ERROR = "compare_error"  # a start-comparison error sentence, shown once
CMP_STRATEGIES = "cmp_strategies"  # Compare page widgets: strategies, seeds, rounds, batch size, initial labeled
CMP_SEEDS = "cmp_seeds"
CMP_ROUNDS = "cmp_rounds"
CMP_BATCH = "cmp_batch"
CMP_INITIAL = "cmp_initial"
CMP_RUN_ON = "cmp_run_on"      # Compare page: where the runs execute (app_services.RUN_ON key)
CMP_RAY_ADDRESS = "cmp_ray_address"  # Compare page: the Ray address ("" = a local Ray instance)
STORY = "story"                  # Walkthrough page: (Story, read-only Explorer) being played, or absent
STORY_STEP = "story_step"        # Walkthrough page: 0-based step shown (Previous / Next / slider)
STORY_SLIDER = "story_slider"    # Walkthrough page: the "Jump to step" slider (1-based), synced to STORY_STEP
STORY_KEY = "story_loaded"       # (upload key, None) of the walkthrough file opened last (upload_once)
PLAYGROUND = "playground"         # Learn page: the 2-D playground (bait_core.learning.playground.Playground), or absent
LEARN_ERROR = "learn_error"      # Learn page: a settings / round error sentence, shown once
LEARN_ROUND = "learn_round"      # Learn page: the "Round shown" slider (0-based round index)
LEARN_TOY = "learn_toy"          # Learn page widgets: toy set, points, classes, noise, initial labels,
LEARN_POINTS = "learn_points"    #   batch size, seed (all take effect with "New playground") and the
LEARN_CLASSES = "learn_classes"  #   comparison strategy (applies at once, to every round shown)
LEARN_NOISE = "learn_noise"
LEARN_INITIAL = "learn_initial"
LEARN_BATCH = "learn_batch"
LEARN_SEED = "learn_seed"
LEARN_COMPARE = "learn_compare"
# --- a person labels the batch (app_labeling.labeling_panel on the Rounds page) -------------------
LABEL_EDIT = "label_edit"        # the pick the person pressed "edit" on (made current again), or None
LABEL_ERROR = "label_error"      # a label / skip / undo / train error sentence, shown once in the panel
LABEL_VALUE = "label_value"      # regression: the "Value" number input of the current point
LABEL_PICK = "label_pick"        # more than 20 classes: the class selectbox next to the "Label" button
CLASSROOM = "classroom"          # Rounds: the "Label the next round yourself (classroom)" toggle (simulated runs)
# --- presentation mode (app_present: the Rounds page fits a 1280×720 projector) ------------------
PRESENT = "present_mode"         # the sidebar's "Presentation mode" toggle (bool); on with ?present=1
PRESENT_PARAM = "present"        # the page URL's query parameter: "1" while presentation mode is on
