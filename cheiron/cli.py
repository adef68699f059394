"""The `cheiron` command line: parses arguments and hands off to the subcommand's module."""

import argparse
import datetime
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, overload

from cheiron import __version__
from cheiron.api.crd import KINDS, all_crds_yaml, crd_file_name, crd_yaml
from cheiron.devcluster import (
    ETCD_VERSION,
    KUBERNETES_VERSION,
    ControlPlane,
    ControlPlaneError,
    Node,
    NodeError,
    default_bin_dir,
    plane_for_node,
)
from cheiron.logs import configure as configure_logs

if TYPE_CHECKING:
    from cheiron.pullsecrets.entries import EcrPolicy
    from cheiron.pullsecrets.verification import VerifyPolicy


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"cheiron {__version__} (control plane {KUBERNETES_VERSION}, etcd {ETCD_VERSION})")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from cheiron.operator import Options, WebhookOptions, run  # noqa: PLC0415 - kopf is heavy

    configure_logs(args.log_format, args.verbose, args.debug_logger)
    webhook = None
    if args.webhook_port:
        webhook = WebhookOptions(
            port=args.webhook_port,
            host=args.webhook_host,
            listen=args.webhook_listen,
            service=args.webhook_service,
            failure_policy=args.webhook_failure_policy,
            timeout_seconds=args.webhook_timeout,
            service_accounts=args.webhook_serviceaccounts,
            cert_dir=args.webhook_cert_dir,
            manage_configuration=not args.no_webhook_configuration,
        )
    run(
        Options(
            kubeconfig=args.kubeconfig,
            namespaces=tuple(args.namespace),
            resync_seconds=args.resync_seconds,
            eatr=args.eatr_namespace_labels,
            ecr_policy=_ecr_policy(args),
            verify_policy=_verify_policy(args),
            verify_ca_pem=args.verify_ca_file.read_text() if args.verify_ca_file else None,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            leader_election=args.leader_elect,
            lease_name=args.lease_name,
            lease_seconds=args.lease_seconds,
            liveness_endpoint=args.liveness,
            operator_namespace=args.operator_namespace,
            webhook=webhook,
        )
    )
    return 0


# The kubelet gives each container `NAME_PORT=tcp://10.0.0.7:9090` for every Service `name` in
# its namespace (unless the Pod says enableServiceLinks: false): a Service named
# cheiron-metrics or cheiron-webhook would otherwise set --metrics-port or --webhook-port.
_SERVICE_LINK = re.compile(r"^(tcp|udp|sctp)://")


@overload
def _setting(variable: str, default: str) -> str: ...
@overload
def _setting(variable: str, default: None = None) -> str | None: ...
def _setting(variable: str, default: str | None = None) -> str | None:
    """A CHEIRON_* environment setting; a Kubernetes service link of the same name is none."""
    value = os.environ.get(variable)
    return default if value is None or _SERVICE_LINK.match(value) else value


def _ecr_policy_flags(parser: argparse.ArgumentParser) -> None:
    """What namespaced managers' ECR entries may use beyond their own keys (see EcrPolicy)."""
    for flag, variable, metavar, what in (
        (
            "--ecr-ambient-namespace",
            "CHEIRON_ECR_AMBIENT_NAMESPACES",
            "NS",
            "managers in NS may use the operator's own AWS identity",
        ),
        (
            "--ecr-role-arn",
            "CHEIRON_ECR_ROLE_ARNS",
            "PATTERN",
            "namespaced managers may assume roles matching PATTERN (fnmatch)",
        ),
        (
            "--ecr-endpoint-host",
            "CHEIRON_ECR_ENDPOINT_HOSTS",
            "HOST[:PORT]",
            "namespaced managers may name this endpoint, and any manager over plain http",
        ),
    ):
        _list_flag(parser, flag, variable, metavar, what)


def _list_flag(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    flag: str,
    variable: str,
    metavar: str,
    what: str,
) -> None:
    """A repeatable flag, its default a comma-separated CHEIRON_* setting."""
    parser.add_argument(
        flag,
        action="append",
        default=[v for v in _setting(variable, "").split(",") if v],
        metavar=metavar,
        help=f"{what} (repeatable; ${variable}, comma-separated)",
    )


def _switch(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, flag: str, variable: str, what: str
) -> None:
    """An on/off flag, on by default when the CHEIRON_* setting says `true`."""
    parser.add_argument(
        flag, action="store_true", default=_setting(variable, "") == "true", help=what
    )


def _ecr_policy(args: argparse.Namespace) -> "EcrPolicy":
    from cheiron.pullsecrets.entries import EcrPolicy  # noqa: PLC0415

    return EcrPolicy(
        frozenset(args.ecr_ambient_namespace),
        tuple(args.ecr_role_arn),
        frozenset(args.ecr_endpoint_host),
    )


def _verify_flags(parser: argparse.ArgumentParser) -> None:
    """Which registries the operator may ask about credentials, and how often."""
    group = parser.add_argument_group("credential verification")
    for flag, variable, what in (
        (
            "--verify-host",
            "CHEIRON_VERIFY_HOSTS",
            "registries namespaced managers' credentials may be verified against (fnmatch)",
        ),
        (
            "--verify-insecure-host",
            "CHEIRON_VERIFY_INSECURE_HOSTS",
            "registries asked over plain http or without certificate checks (test registries)",
        ),
    ):
        _list_flag(group, flag, variable, "HOST[:PORT]", what)
    _switch(
        group,
        "--verify-listed-only",
        "CHEIRON_VERIFY_LISTED_ONLY",
        "cluster managers too are verified only against --verify-host registries",
    )
    group.add_argument(
        "--verify-interval",
        type=float,
        default=_setting("CHEIRON_VERIFY_INTERVAL", "21600"),
        metavar="SECONDS",
        help="ask a registry about the same credentials at most this often (default: "
        "%(default)s); changed credentials are asked about at once",
    )
    group.add_argument(
        "--verify-ca-file",
        type=Path,
        default=_setting("CHEIRON_VERIFY_CA_FILE"),
        metavar="PEM",
        help="CA certificates trusted, besides the system's, when verifying",
    )


def _verify_policy(args: argparse.Namespace) -> "VerifyPolicy":
    from cheiron.pullsecrets.verification import VerifyPolicy  # noqa: PLC0415

    return VerifyPolicy(
        datetime.timedelta(seconds=args.verify_interval),
        tuple(args.verify_host),
        args.verify_listed_only,
        tuple(args.verify_insecure_host),
    )


def _cmd_plan(args: argparse.Namespace) -> int:
    from cheiron.dryrun import snapshot_run  # noqa: PLC0415 - the kubernetes client is heavy
    from cheiron.k8s.client import api_client  # noqa: PLC0415

    plans, invalid = snapshot_run.compute(
        api_client(args.kubeconfig),
        args.namespace,
        eatr=args.eatr_namespace_labels,
        ecr_policy=_ecr_policy(args),
    )
    render = snapshot_run.render_json if args.output == "json" else snapshot_run.render_text
    sys.stdout.write(render(plans, invalid))
    return 2 if args.exit_code and any(p.changes for p in plans) else 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    from cheiron.k8s.client import api_client  # noqa: PLC0415 - the kubernetes client is heavy
    from cheiron.migrate import live  # noqa: PLC0415

    api = api_client(args.kubeconfig)
    tool, adopt = args.source, args.adopt
    if tool == "imps":
        migration = live.from_imps(api, adopt=adopt)
    elif tool == "kube-ecr":
        migration = live.from_kube_ecr(api, args.credentials_namespace, adopt=adopt)
    elif tool == "eatr":
        migration = live.from_eatr(
            api, args.eatr_namespace, args.eatr_prefix, args.eatr_targeting, adopt=adopt
        )
    else:
        migration = live.from_patcher(api, args.patcher_deployment, adopt=adopt)
    sys.stdout.write(migration.render())
    return 0


def _add_migrate(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `migrate` subcommand."""
    migrate = sub.add_parser(
        "migrate",
        help="print cheiron resources that do what another tool does now, writing nothing",
        description=(
            "Read imps', kube-ecr-secrets-operator's, eatr's or imagepullsecret-patcher's "
            "objects and print the cheiron managers that do the same job, as YAML for kubectl "
            "apply, with what cannot be carried over in comments. Never prints a secret value: "
            "where keys must move, it prints commands that copy them through a pipe."
        ),
    )
    migrate.add_argument(
        "--from",
        dest="source",
        required=True,
        choices=("imps", "kube-ecr", "eatr", "patcher"),
        help="the tool to migrate from",
    )
    migrate.add_argument(
        "--adopt",
        action="store_true",
        help="also print the commands that label the Secrets the tool wrote for the managers "
        "to take over in place (cheiron.anny.co/adopt), instead of reporting them as conflicts",
    )
    migrate.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig to use (default: $KUBECONFIG, then in-cluster)",
    )
    migrate.add_argument(
        "--credentials-namespace",
        default=os.environ.get("POD_NAMESPACE", "cheiron-system"),
        metavar="NS",
        help="kube-ecr: where the AWS keys of cluster-scoped objects go (default: %(default)s)",
    )
    migrate.add_argument(
        "--eatr-namespace",
        default="ci-cd",
        metavar="NS",
        help="eatr: its -host-namespace, where its AWS key Secrets are (default: %(default)s)",
    )
    migrate.add_argument(
        "--eatr-prefix",
        default="eatr-aws-credentials",
        help="eatr: its -aws-credentials-secret-prefix (default: %(default)s)",
    )
    migrate.add_argument(
        "--eatr-targeting",
        choices=("labels", "explicit"),
        default="labels",
        help="eatr: one manager for `cheiron run --eatr-namespace-labels`, or one manager per "
        "registry selecting eatr's labels itself (default: %(default)s)",
    )
    migrate.add_argument(
        "--patcher-deployment",
        metavar="NS/NAME",
        help="patcher: its Deployment (default: every Deployment running its image)",
    )
    migrate.set_defaults(func=_cmd_migrate)


def _cmd_crds(args: argparse.Namespace) -> int:
    if args.write is None:
        sys.stdout.write(all_crds_yaml())
        return 0
    out: Path = args.write
    out.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        (out / crd_file_name(kind)).write_text(crd_yaml(kind))
    return 0


def _cmd_dev_cluster(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    # Installed before start so that a Ctrl-C during start-up still cleans up.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    kubeconfig: Path = args.kubeconfig
    plane = (
        plane_for_node(bin_dir=args.bin_dir) if args.node else ControlPlane(bin_dir=args.bin_dir)
    )
    node = Node(plane, trust=dict(args.trust_registry)) if args.node else None
    try:
        plane.start()
        if node is not None:
            node.start()
        plane.write_kubeconfig(kubeconfig)
        print(f"READY {kubeconfig}", flush=True)
        while not stop.wait(1.0):
            if dead := plane.alive() + (node.alive() if node is not None else []):
                print(f"dev-cluster: {', '.join(dead)} exited", file=sys.stderr)
                return 1
        return 0
    except (ControlPlaneError, NodeError) as e:
        print(f"dev-cluster: {e}", file=sys.stderr)
        return 1
    finally:
        try:
            if node is not None:
                node.stop()
        except NodeError as e:
            print(f"dev-cluster: {e}", file=sys.stderr)
        finally:
            plane.stop()


def _trusted_registry(value: str) -> tuple[str, Path]:
    """HOST:PORT=CA.pem, the CA file readable."""
    host, sep, ca = value.partition("=")
    if not sep or not host or not ca:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT=CA.pem, got {value!r}")
    path = Path(ca)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{ca}: no such file")
    return host, path


def _add_dev_cluster(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The `dev-cluster` subcommand."""
    dev = sub.add_parser(
        "dev-cluster",
        help="run a local control plane (etcd, kube-apiserver, kube-controller-manager)",
        description=(
            "Start etcd, kube-apiserver and kube-controller-manager on free loopback ports, "
            "write an admin kubeconfig, print 'READY <path>' and run until SIGINT or SIGTERM, "
            "then stop everything and remove the temporary directory. With --node (root "
            "only), also one real node (containerd, kubelet, kube-scheduler, kube-proxy, a pod "
            "bridge whose forwarded traffic is dropped) and print READY once it is Ready."
        ),
    )
    dev.add_argument("--kubeconfig", type=Path, required=True, help="where to write the kubeconfig")
    dev.add_argument(
        "--bin-dir",
        type=Path,
        default=default_bin_dir(),
        help="folder with the binaries (default: the build cache, %(default)s)",
    )
    dev.add_argument(
        "--node",
        action="store_true",
        help="run one real node too: Pods pull and start (needs root and `make node-tools`)",
    )
    dev.add_argument(
        "--trust-registry",
        type=_trusted_registry,
        action="append",
        default=[],
        metavar="HOST:PORT=CA.pem",
        help=(
            "let the node pull from https://HOST:PORT, whose certificate CA.pem signed "
            "(repeatable); images of registries not named here are never fetched"
        ),
    )
    dev.set_defaults(func=_cmd_dev_cluster)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (exposed for --help tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="cheiron",
        description="Delivers container-registry credentials to every workload that needs them.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    version = sub.add_parser("version", help="print cheiron's version")
    version.set_defaults(func=_cmd_version)

    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Run the operator until SIGINT or SIGTERM.",
    )
    run.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig to use (default: $KUBECONFIG, then in-cluster)",
    )
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="act only in this namespace (repeatable): a namespaced install",
    )
    scope.add_argument(
        "--all-namespaces",
        action="store_true",
        help="act in all namespaces (the default)",
    )
    run.add_argument(
        "--resync-seconds",
        type=float,
        default=_setting("CHEIRON_RESYNC_SECONDS", "600"),
        help="safety-net resync period of each manager (default: %(default)s)",
    )
    _switch(
        run,
        "--eatr-namespace-labels",
        "CHEIRON_EATR_NAMESPACE_LABELS",
        (
            "eatr compatibility: a namespace labelled `<account>.dkr.ecr.<region>.amazonaws.com:"
            ' "true"` gets the Secret of a ClusterImagePullSecretManager ECR entry for that '
            "registry"
        ),
    )
    _ecr_policy_flags(run)
    _verify_flags(run)
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=_setting("CHEIRON_LOG_FORMAT", "text"),
        help="text for people, json for log pipelines (default: %(default)s)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=_setting("CHEIRON_METRICS_PORT", "0"),
        help="serve /metrics, /healthz and /readyz on this port (default 0: off)",
    )
    run.add_argument(
        "--metrics-host",
        default=_setting("CHEIRON_METRICS_HOST", "0.0.0.0"),  # noqa: S104
        help="address for --metrics-port (default: %(default)s)",
    )
    ha = run.add_argument_group("high availability")
    _switch(
        ha,
        "--leader-elect",
        "CHEIRON_LEADER_ELECT",
        "run several replicas: the one holding a Lease acts, the others wait",
    )
    ha.add_argument(
        "--lease-name",
        default=_setting("CHEIRON_LEASE_NAME", "cheiron"),
        help="the Lease, in --operator-namespace (default: %(default)s)",
    )
    ha.add_argument(
        "--lease-seconds",
        type=int,
        default=_setting("CHEIRON_LEASE_SECONDS", "15"),
        help="how long a silent leader keeps the Lease; the leader itself stops acting after "
        "two thirds of it without a renewal (default: %(default)s)",
    )
    run.add_argument(
        "--liveness",
        default=_setting("CHEIRON_LIVENESS"),
        metavar="URL",
        help="serve liveness probes, e.g. http://0.0.0.0:8080/healthz",
    )
    run.add_argument(
        "--operator-namespace",
        default=os.environ.get("POD_NAMESPACE", "cheiron-system"),
        help="the operator's own namespace, never served by its webhook (default: %(default)s)",
    )
    hook = run.add_argument_group("admission webhook (Pod mode)")
    hook.add_argument(
        "--webhook-port",
        type=int,
        default=_setting("CHEIRON_WEBHOOK_PORT", "0"),
        help="serve the Pod admission webhook on this port (0, the default: no webhook)",
    )
    hook.add_argument(
        "--webhook-host",
        default=_setting("CHEIRON_WEBHOOK_HOST", "127.0.0.1"),
        help="host or IP the apiserver calls when no --webhook-service (default: %(default)s)",
    )
    hook.add_argument(
        "--webhook-listen", default=None, help="address to listen on (default: --webhook-host)"
    )
    hook.add_argument(
        "--webhook-service",
        default=_setting("CHEIRON_WEBHOOK_SERVICE"),
        metavar="NS/NAME",
        help="the Service in front of the operator, for in-cluster installs",
    )
    hook.add_argument(
        "--webhook-failure-policy",
        choices=("Ignore", "Fail"),
        default=_setting("CHEIRON_WEBHOOK_FAILURE_POLICY", "Ignore"),
        help="what the apiserver does when the webhook is down (default: %(default)s)",
    )
    hook.add_argument(
        "--webhook-timeout",
        type=int,
        default=2,
        help="seconds the apiserver waits for the webhook (default: %(default)s)",
    )
    _switch(
        hook,
        "--webhook-serviceaccounts",
        "CHEIRON_WEBHOOK_SERVICEACCOUNTS",
        "also give ServiceAccounts their pull secrets at CREATE",
    )
    hook.add_argument(
        "--webhook-cert-dir",
        default=_setting("CHEIRON_WEBHOOK_CERT_DIR"),
        metavar="DIR",
        help="serve tls.crt/tls.key from DIR (e.g. a cert-manager Secret) instead of making one",
    )
    hook.add_argument(
        "--no-webhook-configuration",
        action="store_true",
        help="do not write the MutatingWebhookConfiguration (cert-manager's CA injector does)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    run.add_argument(
        "--debug-logger",
        action="append",
        default=[],
        metavar="NAME",
        help="debug logging for this library too, e.g. botocore or urllib3: under -v the "
        "libraries that log requests stay at INFO (their lines are redacted all the same)",
    )
    run.set_defaults(func=_cmd_run)

    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions")
    crds.add_argument(
        "--write", type=Path, metavar="DIR", help="write one file per CRD into DIR instead"
    )
    crds.set_defaults(func=_cmd_crds)

    dry = sub.add_parser(
        "plan",
        help="print what the operator would write now, writing nothing",
        description=(
            "Read the cluster and print, per manager, the Secrets cheiron would create, "
            "update or delete, the Secrets it would refuse to touch, and the ServiceAccounts "
            "whose imagePullSecrets would change. Needs read access only; ECR entries are "
            "not sent to AWS."
        ),
    )
    dry.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig to use (default: $KUBECONFIG, then in-cluster)",
    )
    dry.add_argument(
        "--namespace",
        action="append",
        default=[],
        metavar="NS",
        help="plan a namespaced install of these namespaces (repeatable; default: cluster-wide)",
    )
    _switch(
        dry,
        "--eatr-namespace-labels",
        "CHEIRON_EATR_NAMESPACE_LABELS",
        "plan as an operator running with eatr compatibility",
    )
    _ecr_policy_flags(dry)
    dry.add_argument("-o", "--output", choices=("text", "json"), default="text")
    dry.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 2 when something would change (for CI), 0 when nothing would",
    )
    dry.set_defaults(func=_cmd_plan)

    _add_migrate(sub)

    _add_dev_cluster(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `cheiron` console script."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
