import { render } from "preact";
import { ExperimentsPage } from "./pages/ExperimentsPage";
import { ExperimentPage } from "./pages/ExperimentPage";
import { RunPage } from "./pages/RunPage";
import { useRoute } from "./router";
import "uplot/dist/uPlot.min.css";
import "./styles.css";

function App() {
  const route = useRoute();
  const [first, id, sub, runId] = route.parts;
  let page;
  if (!first || (first === "experiments" && !id)) page = <ExperimentsPage route={route} />;
  else if (first === "experiments" && sub === "runs" && runId) page = <RunPage experimentId={id} runId={runId} route={route} />;
  else if (first === "experiments" && id) page = <ExperimentPage experimentId={id} route={route} />;
  else if (first === "runs" && id) page = <RunPage runId={id} route={route} />;
  else
    page = (
      <main class="page">
        <h1>Page not found</h1>
        <p>
          Nothing lives at <code>{route.path}</code>. <a href="#/experiments">Back to the experiments</a>.
        </p>
      </main>
    );
  return (
    <>
      <header class="topbar">
        <a class="brand" href="#/experiments">
          aiotrack
        </a>
        <nav>
          <a href="#/experiments">Experiments</a>
        </nav>
      </header>
      {page}
    </>
  );
}

render(<App />, document.getElementById("app")!);
