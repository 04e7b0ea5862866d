"""Façade kept for the tests and scripts that still `import app_state as S`: it only re-exports the
public names of the app modules, with no logic of its own. New code imports those modules directly:

- app_keys: every session-state key (constants only);
- app_services: everything that does not need streamlit (runs folder, building a run, uploads,
  records / bundles / walkthroughs / comparisons, the comparison worker, warm-up threads, map layouts);
- app_session: the session's run and jobs, the URL's ?run=ID, the server-wide warm-up caches;
- app_widgets: what several pages draw (flash, errors shown once, downloads, a job's progress panel).

Where two modules define one name, the later one in this list wins (app_session.compare_plan and
comparison_dataset, which take the run from the session, over app_services', which take it as an
argument), so the old names keep their old signatures.
"""

from app_keys import *  # noqa: F401,F403
from app_services import *  # noqa: F401,F403
from app_session import *  # noqa: F401,F403
from app_widgets import *  # noqa: F401,F403
