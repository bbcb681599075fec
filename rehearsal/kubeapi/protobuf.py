"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) to and from JSON dicts.

kubectl v1.32's typed generators (``kubectl create deployment|namespace|secret|configmap|job|cronjob|
service|serviceaccount|ingress``) send their bodies as Kubernetes protobuf, not JSON, and do not fall
back to JSON on a 415. ``decode_object`` turns such a body into the dict kube-apiserver's JSON encoding
of the decoded Go object would show, so the rest of the emulator only ever sees JSON;
``encode_object`` is the inverse (tests use it for round trips).

The wire format (https://kubernetes.io/docs/reference/using-api/api-concepts/#protobuf-encoding):
the 4-byte magic ``k8s\\x00``, then a ``runtime.Unknown`` message {typeMeta=1 {apiVersion=1, kind=2},
raw=2, contentEncoding=3, contentType=4} whose ``raw`` holds the object message.

Why hand-written rather than the ``protobuf`` package: no PyPI package we can use ships the Kubernetes
``generated.proto`` definitions or Python classes for them, and compiling them needs the whole
k8s.io/api + apimachinery source tree plus gogoproto options. The wire format itself is small, so a
reader/writer (below) plus a compact schema table is less than a protoc toolchain. Field numbers are
facts taken from the upstream ``generated.proto`` files (k8s.io/api core/v1, apps/v1, batch/v1,
networking/v1; apimachinery meta/v1, runtime, util/intstr); the table covers Kubernetes v1.32 fields
only, and a test holds its JSON names and types to the v1.32 API schema bundled with kubernetes-validate.

How JSON is produced (mirrors Go's ``encoding/json`` over the k8s Go types):
- the Go generated marshaller always writes non-pointer fields (even "" / 0 / false) and writes
  pointer fields only when set, so "present on the wire" stands for "set" only for pointers;
- plain scalar fields carry ``omitempty`` in Go: a zero value is dropped (``hostPort: 0`` vanishes);
- pointer scalars (``?`` below, e.g. ``replicas``) keep a zero that was sent (``replicas: 0``);
- fields without ``omitempty`` (``!``, e.g. ``containerPort``, ``containers``) always appear, with
  their zero value (``null`` for lists, maps and pointers) when absent; ``~`` is a pointer without
  ``omitempty`` (a sent zero is kept, absent is ``null``);
- struct-valued fields appear whenever sent (Go ignores omitempty on structs: ``strategy: {}``,
  ``resources: {}``, ``status: {}``); an empty ``metav1.Time`` is ``null``;
- embedded structs (``^``: ``LocalObjectReference`` in key selectors, ``ProbeHandler`` in ``Probe``,
  ``VolumeSource`` in ``Volume``, ``IngressRuleValue`` in ``IngressRule``) are inlined into their
  parent, as their ``json:",inline"`` tag does;
- unknown field numbers are skipped, as the Go unmarshaller does; a known field with the wrong wire
  type or truncated data raises ``ProtobufError`` (a ``ValueError``), a well-formed body of a kind
  without a schema here raises its subclass ``UnsupportedProtobuf``.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf object (kube-apiserver answers 400 BadRequest)."""


class UnsupportedProtobuf(ProtobufError):
    """A well-formed body this emulator cannot read: a kind without a schema here, or a content encoding
    (answer 415 UnsupportedMediaType, as for a media type the server does not take)."""


VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
_MASK64 = (1 << 64) - 1
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's zero time.Time, in Unix seconds


# -- wire format ----------------------------------------------------------------------------------
def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for i in range(pos, min(pos + 10, len(buf))):
        b = buf[i]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, i + 1
        shift += 7
    raise ProtobufError("malformed protobuf: truncated or overlong varint")


def _iter_fields(buf: bytes):
    """Yield (field number, wire type, value) for every field of one message; value is int or bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0 or num > 0x1FFFFFFF:
            raise ProtobufError(f"malformed protobuf: illegal field number {num}")
        if wt == VARINT:
            value, pos = _read_varint(buf, pos)
        elif wt == LEN:
            n, pos = _read_varint(buf, pos)
            if n > end - pos:
                raise ProtobufError("malformed protobuf: length-delimited field runs past the end")
            value, pos = buf[pos:pos + n], pos + n
        elif wt in (FIXED64, FIXED32):
            size = 8 if wt == FIXED64 else 4
            if pos + size > end:
                raise ProtobufError("malformed protobuf: truncated fixed-width field")
            value = int.from_bytes(buf[pos:pos + size], "little")
            pos += size
        else:  # groups (3, 4) are not used by any Kubernetes type; 6 and 7 do not exist
            raise ProtobufError(f"malformed protobuf: unsupported wire type {wt} for field {num}")
        yield num, wt, value


def _varint(n: int) -> bytes:
    n &= _MASK64  # negative ints travel as 10-byte two's complement varints
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(num: int, wt: int) -> bytes:
    return _varint((num << 3) | wt)


def _len_field(num: int, data: bytes) -> bytes:
    return _tag(num, LEN) + _varint(len(data)) + data


def _signed(n: int, bits: int) -> int:
    n &= (1 << bits) - 1
    return n - (1 << bits) if n >> (bits - 1) else n


# -- schema ---------------------------------------------------------------------------------------
# One line per message: "Name: num jsonName type, ...". Type is a scalar (s string, i32, i64, b bool,
# y bytes), Q (resource.Quantity), T (metav1.Time), IOS (intstr.IntOrString), F (metav1.FieldsV1, whose
# raw JSON bytes sit in its field 1) or a message name; prefix "[" = repeated, "{" = map<string, type>;
# suffix "?" = Go pointer (a sent zero is kept), "!" = no omitempty (always in JSON), "~" = pointer
# without omitempty, "^" = embedded struct inlined into the parent's JSON.
_SCHEMA_TEXT = """
OwnerReference: 5 apiVersion s!, 1 kind s!, 3 name s!, 4 uid s!, 6 controller b?, 7 blockOwnerDeletion b?
ManagedFieldsEntry: 1 manager s, 2 operation s, 3 apiVersion s, 4 time T?, 6 fieldsType s, 7 fieldsV1 F?,
  8 subresource s
ObjectMeta: 1 name s, 2 generateName s, 3 namespace s, 4 selfLink s, 5 uid s, 6 resourceVersion s, 7 generation i64,
  8 creationTimestamp T, 9 deletionTimestamp T?, 10 deletionGracePeriodSeconds i64?, 11 labels {s, 12 annotations {s,
  13 ownerReferences [OwnerReference, 14 finalizers [s, 17 managedFields [ManagedFieldsEntry
LabelSelectorRequirement: 1 key s!, 2 operator s!, 3 values [s
LabelSelector: 1 matchLabels {s, 2 matchExpressions [LabelSelectorRequirement
Condition: 1 type s!, 2 status s!, 3 observedGeneration i64, 4 lastTransitionTime T!, 5 reason s!, 6 message s!

LocalObjectReference: 1 name s
ObjectReference: 1 kind s, 2 namespace s, 3 name s, 4 uid s, 5 apiVersion s, 6 resourceVersion s, 7 fieldPath s
TypedLocalObjectReference: 1 apiGroup s~, 2 kind s!, 3 name s!
KeyToPath: 1 key s!, 2 path s!, 3 mode i32?
ObjectFieldSelector: 1 apiVersion s, 2 fieldPath s!
ResourceFieldSelector: 1 containerName s, 2 resource s!, 3 divisor Q
ConfigMapKeySelector: 1 localObjectReference LocalObjectReference^, 2 key s!, 3 optional b?
SecretKeySelector: 1 localObjectReference LocalObjectReference^, 2 key s!, 3 optional b?
EnvVarSource: 1 fieldRef ObjectFieldSelector?, 2 resourceFieldRef ResourceFieldSelector?,
  3 configMapKeyRef ConfigMapKeySelector?, 4 secretKeyRef SecretKeySelector?
EnvVar: 1 name s!, 2 value s, 3 valueFrom EnvVarSource?
ConfigMapEnvSource: 1 localObjectReference LocalObjectReference^, 2 optional b?
SecretEnvSource: 1 localObjectReference LocalObjectReference^, 2 optional b?
EnvFromSource: 1 prefix s, 2 configMapRef ConfigMapEnvSource?, 3 secretRef SecretEnvSource?
ContainerPort: 1 name s, 2 hostPort i32, 3 containerPort i32!, 4 protocol s, 5 hostIP s
ResourceClaim: 1 name s!, 2 request s
ResourceRequirements: 1 limits {Q, 2 requests {Q, 3 claims [ResourceClaim
ContainerResizePolicy: 1 resourceName s!, 2 restartPolicy s!
VolumeMount: 1 name s!, 2 readOnly b, 7 recursiveReadOnly s?, 3 mountPath s!, 4 subPath s, 5 mountPropagation s?,
  6 subPathExpr s
VolumeDevice: 1 name s!, 2 devicePath s!
ExecAction: 1 command [s
HTTPHeader: 1 name s!, 2 value s!
HTTPGetAction: 1 path s, 2 port IOS, 3 host s, 4 scheme s, 5 httpHeaders [HTTPHeader
TCPSocketAction: 1 port IOS, 2 host s
GRPCAction: 1 port i32!, 2 service s?
SleepAction: 1 seconds i64!
ProbeHandler: 1 exec ExecAction?, 2 httpGet HTTPGetAction?, 3 tcpSocket TCPSocketAction?, 4 grpc GRPCAction?
Probe: 1 handler ProbeHandler^, 2 initialDelaySeconds i32, 3 timeoutSeconds i32, 4 periodSeconds i32,
  5 successThreshold i32, 6 failureThreshold i32, 7 terminationGracePeriodSeconds i64?
LifecycleHandler: 1 exec ExecAction?, 2 httpGet HTTPGetAction?, 3 tcpSocket TCPSocketAction?, 4 sleep SleepAction?
Lifecycle: 1 postStart LifecycleHandler?, 2 preStop LifecycleHandler?
Capabilities: 1 add [s, 2 drop [s
SELinuxOptions: 1 user s, 2 role s, 3 type s, 4 level s
SeccompProfile: 1 type s!, 2 localhostProfile s?
AppArmorProfile: 1 type s!, 2 localhostProfile s?
SecurityContext: 1 capabilities Capabilities?, 2 privileged b?, 3 seLinuxOptions SELinuxOptions?, 4 runAsUser i64?,
  8 runAsGroup i64?, 5 runAsNonRoot b?, 6 readOnlyRootFilesystem b?, 7 allowPrivilegeEscalation b?, 9 procMount s?,
  11 seccompProfile SeccompProfile?, 12 appArmorProfile AppArmorProfile?
Container: 1 name s!, 2 image s, 3 command [s, 4 args [s, 5 workingDir s, 6 ports [ContainerPort,
  19 envFrom [EnvFromSource, 7 env [EnvVar, 8 resources ResourceRequirements, 23 resizePolicy [ContainerResizePolicy,
  24 restartPolicy s?, 9 volumeMounts [VolumeMount, 21 volumeDevices [VolumeDevice, 10 livenessProbe Probe?,
  11 readinessProbe Probe?, 22 startupProbe Probe?, 12 lifecycle Lifecycle?, 13 terminationMessagePath s,
  20 terminationMessagePolicy s, 14 imagePullPolicy s, 15 securityContext SecurityContext?, 16 stdin b,
  17 stdinOnce b, 18 tty b

HostPathVolumeSource: 1 path s!, 2 type s?
EmptyDirVolumeSource: 1 medium s, 2 sizeLimit Q?
SecretVolumeSource: 1 secretName s, 2 items [KeyToPath, 3 defaultMode i32?, 4 optional b?
ConfigMapVolumeSource: 1 localObjectReference LocalObjectReference^, 2 items [KeyToPath, 3 defaultMode i32?,
  4 optional b?
NFSVolumeSource: 1 server s!, 2 path s!, 3 readOnly b
PersistentVolumeClaimVolumeSource: 1 claimName s!, 2 readOnly b
DownwardAPIVolumeFile: 1 path s!, 2 fieldRef ObjectFieldSelector?, 3 resourceFieldRef ResourceFieldSelector?,
  4 mode i32?
DownwardAPIVolumeSource: 1 items [DownwardAPIVolumeFile, 2 defaultMode i32?
DownwardAPIProjection: 1 items [DownwardAPIVolumeFile
SecretProjection: 1 localObjectReference LocalObjectReference^, 2 items [KeyToPath, 4 optional b?
ConfigMapProjection: 1 localObjectReference LocalObjectReference^, 2 items [KeyToPath, 4 optional b?
ServiceAccountTokenProjection: 1 audience s, 2 expirationSeconds i64?, 3 path s!
VolumeProjection: 1 secret SecretProjection?, 2 downwardAPI DownwardAPIProjection?, 3 configMap ConfigMapProjection?,
  4 serviceAccountToken ServiceAccountTokenProjection?
ProjectedVolumeSource: 1 sources [VolumeProjection, 2 defaultMode i32?
CSIVolumeSource: 1 driver s!, 2 readOnly b?, 3 fsType s?, 4 volumeAttributes {s,
  5 nodePublishSecretRef LocalObjectReference?
ImageVolumeSource: 1 reference s, 2 pullPolicy s
VolumeSource: 1 hostPath HostPathVolumeSource?, 2 emptyDir EmptyDirVolumeSource?, 6 secret SecretVolumeSource?,
  7 nfs NFSVolumeSource?, 10 persistentVolumeClaim PersistentVolumeClaimVolumeSource?,
  16 downwardAPI DownwardAPIVolumeSource?, 19 configMap ConfigMapVolumeSource?, 26 projected ProjectedVolumeSource?,
  28 csi CSIVolumeSource?, 30 image ImageVolumeSource?
Volume: 1 name s!, 2 volumeSource VolumeSource^

NodeSelectorRequirement: 1 key s!, 2 operator s!, 3 values [s
NodeSelectorTerm: 1 matchExpressions [NodeSelectorRequirement, 2 matchFields [NodeSelectorRequirement
NodeSelector: 1 nodeSelectorTerms [NodeSelectorTerm!
PreferredSchedulingTerm: 1 weight i32!, 2 preference NodeSelectorTerm!
NodeAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector?,
  2 preferredDuringSchedulingIgnoredDuringExecution [PreferredSchedulingTerm
PodAffinityTerm: 1 labelSelector LabelSelector?, 2 namespaces [s, 3 topologyKey s!, 4 namespaceSelector LabelSelector?,
  5 matchLabelKeys [s, 6 mismatchLabelKeys [s
WeightedPodAffinityTerm: 1 weight i32!, 2 podAffinityTerm PodAffinityTerm!
PodAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution [PodAffinityTerm,
  2 preferredDuringSchedulingIgnoredDuringExecution [WeightedPodAffinityTerm
PodAntiAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution [PodAffinityTerm,
  2 preferredDuringSchedulingIgnoredDuringExecution [WeightedPodAffinityTerm
Affinity: 1 nodeAffinity NodeAffinity?, 2 podAffinity PodAffinity?, 3 podAntiAffinity PodAntiAffinity?
Toleration: 1 key s, 2 operator s, 3 value s, 4 effect s, 5 tolerationSeconds i64?
HostAlias: 1 ip s!, 2 hostnames [s
Sysctl: 1 name s!, 2 value s!
PodSecurityContext: 1 seLinuxOptions SELinuxOptions?, 2 runAsUser i64?, 6 runAsGroup i64?, 3 runAsNonRoot b?,
  4 supplementalGroups [i64, 12 supplementalGroupsPolicy s?, 5 fsGroup i64?, 7 sysctls [Sysctl,
  9 fsGroupChangePolicy s?, 10 seccompProfile SeccompProfile?, 11 appArmorProfile AppArmorProfile?,
  13 seLinuxChangePolicy s?
PodDNSConfigOption: 1 name s, 2 value s?
PodDNSConfig: 1 nameservers [s, 2 searches [s, 3 options [PodDNSConfigOption
PodReadinessGate: 1 conditionType s!
TopologySpreadConstraint: 1 maxSkew i32!, 2 topologyKey s!, 3 whenUnsatisfiable s!, 4 labelSelector LabelSelector?,
  5 minDomains i32?, 6 nodeAffinityPolicy s?, 7 nodeTaintsPolicy s?, 8 matchLabelKeys [s
PodOS: 1 name s!
PodSchedulingGate: 1 name s!
PodSpec: 1 volumes [Volume, 20 initContainers [Container, 2 containers [Container!, 3 restartPolicy s,
  4 terminationGracePeriodSeconds i64?, 5 activeDeadlineSeconds i64?, 6 dnsPolicy s, 7 nodeSelector {s,
  8 serviceAccountName s, 9 serviceAccount s, 21 automountServiceAccountToken b?, 10 nodeName s, 11 hostNetwork b,
  12 hostPID b, 13 hostIPC b, 27 shareProcessNamespace b?, 14 securityContext PodSecurityContext?,
  15 imagePullSecrets [LocalObjectReference, 16 hostname s, 17 subdomain s, 18 affinity Affinity?,
  19 schedulerName s, 22 tolerations [Toleration, 23 hostAliases [HostAlias, 24 priorityClassName s,
  25 priority i32?, 26 dnsConfig PodDNSConfig?, 28 readinessGates [PodReadinessGate, 29 runtimeClassName s?,
  30 enableServiceLinks b?, 31 preemptionPolicy s?, 32 overhead {Q,
  33 topologySpreadConstraints [TopologySpreadConstraint, 35 setHostnameAsFQDN b?, 36 os PodOS?, 37 hostUsers b?,
  38 schedulingGates [PodSchedulingGate, 40 resources ResourceRequirements?
PodTemplateSpec: 1 metadata ObjectMeta, 2 spec PodSpec
PodCondition: 1 type s!, 2 status s!, 3 lastProbeTime T, 4 lastTransitionTime T, 5 reason s, 6 message s
PodIP: 1 ip s!
HostIP: 1 ip s!
PodStatus: 1 phase s, 2 conditions [PodCondition, 3 message s, 4 reason s, 11 nominatedNodeName s, 5 hostIP s,
  16 hostIPs [HostIP, 6 podIP s, 12 podIPs [PodIP, 7 startTime T?, 9 qosClass s
Pod: 1 metadata ObjectMeta, 2 spec PodSpec, 3 status PodStatus

NamespaceSpec: 1 finalizers [s
NamespaceCondition: 1 type s!, 2 status s!, 4 lastTransitionTime T, 5 reason s, 6 message s
NamespaceStatus: 1 phase s, 2 conditions [NamespaceCondition
Namespace: 1 metadata ObjectMeta, 2 spec NamespaceSpec, 3 status NamespaceStatus
Secret: 1 metadata ObjectMeta, 5 immutable b?, 2 data {y, 4 stringData {s, 3 type s
ConfigMap: 1 metadata ObjectMeta, 4 immutable b?, 2 data {s, 3 binaryData {y
ServiceAccount: 1 metadata ObjectMeta, 2 secrets [ObjectReference, 3 imagePullSecrets [LocalObjectReference,
  4 automountServiceAccountToken b?
ServicePort: 1 name s, 2 protocol s, 6 appProtocol s?, 3 port i32!, 4 targetPort IOS, 5 nodePort i32
ClientIPConfig: 1 timeoutSeconds i32?
SessionAffinityConfig: 1 clientIP ClientIPConfig?
ServiceSpec: 1 ports [ServicePort, 2 selector {s, 3 clusterIP s, 18 clusterIPs [s, 4 type s, 5 externalIPs [s,
  7 sessionAffinity s, 8 loadBalancerIP s, 9 loadBalancerSourceRanges [s, 10 externalName s,
  11 externalTrafficPolicy s, 12 healthCheckNodePort i32, 13 publishNotReadyAddresses b,
  14 sessionAffinityConfig SessionAffinityConfig?, 19 ipFamilies [s, 17 ipFamilyPolicy s?,
  20 allocateLoadBalancerNodePorts b?, 21 loadBalancerClass s?, 22 internalTrafficPolicy s?, 23 trafficDistribution s?
PortStatus: 1 port i32!, 2 protocol s!, 3 error s?
LoadBalancerIngress: 1 ip s, 2 hostname s, 3 ipMode s?, 4 ports [PortStatus
LoadBalancerStatus: 1 ingress [LoadBalancerIngress
ServiceStatus: 1 loadBalancer LoadBalancerStatus, 2 conditions [Condition
Service: 1 metadata ObjectMeta, 2 spec ServiceSpec, 3 status ServiceStatus

RollingUpdateDeployment: 1 maxUnavailable IOS?, 2 maxSurge IOS?
DeploymentStrategy: 1 type s, 2 rollingUpdate RollingUpdateDeployment?
DeploymentSpec: 1 replicas i32?, 2 selector LabelSelector!, 3 template PodTemplateSpec!, 4 strategy DeploymentStrategy,
  5 minReadySeconds i32, 6 revisionHistoryLimit i32?, 7 paused b, 9 progressDeadlineSeconds i32?
DeploymentCondition: 1 type s!, 2 status s!, 6 lastUpdateTime T, 7 lastTransitionTime T, 4 reason s, 5 message s
DeploymentStatus: 1 observedGeneration i64, 2 replicas i32, 3 updatedReplicas i32, 7 readyReplicas i32,
  4 availableReplicas i32, 5 unavailableReplicas i32, 6 conditions [DeploymentCondition, 8 collisionCount i32?
Deployment: 1 metadata ObjectMeta, 2 spec DeploymentSpec, 3 status DeploymentStatus
ReplicaSetSpec: 1 replicas i32?, 4 minReadySeconds i32, 2 selector LabelSelector!, 3 template PodTemplateSpec
ReplicaSetCondition: 1 type s!, 2 status s!, 3 lastTransitionTime T, 4 reason s, 5 message s
ReplicaSetStatus: 1 replicas i32!, 2 fullyLabeledReplicas i32, 4 readyReplicas i32, 5 availableReplicas i32,
  3 observedGeneration i64, 6 conditions [ReplicaSetCondition
ReplicaSet: 1 metadata ObjectMeta, 2 spec ReplicaSetSpec, 3 status ReplicaSetStatus

JobSpec: 1 parallelism i32?, 2 completions i32?, 3 activeDeadlineSeconds i64?, 7 backoffLimit i32?,
  12 backoffLimitPerIndex i32?, 13 maxFailedIndexes i32?, 4 selector LabelSelector?, 5 manualSelector b?,
  6 template PodTemplateSpec!, 8 ttlSecondsAfterFinished i32?, 9 completionMode s?, 10 suspend b?,
  14 podReplacementPolicy s?, 15 managedBy s?
JobCondition: 1 type s!, 2 status s!, 3 lastProbeTime T, 4 lastTransitionTime T, 5 reason s, 6 message s
UncountedTerminatedPods: 1 succeeded [s, 2 failed [s
JobStatus: 1 conditions [JobCondition, 2 startTime T?, 3 completionTime T?, 4 active i32, 5 succeeded i32, 6 failed i32,
  11 terminating i32?, 7 completedIndexes s, 10 failedIndexes s?, 8 uncountedTerminatedPods UncountedTerminatedPods?,
  9 ready i32?
Job: 1 metadata ObjectMeta, 2 spec JobSpec, 3 status JobStatus
JobTemplateSpec: 1 metadata ObjectMeta, 2 spec JobSpec
CronJobSpec: 1 schedule s!, 8 timeZone s?, 2 startingDeadlineSeconds i64?, 3 concurrencyPolicy s, 4 suspend b?,
  5 jobTemplate JobTemplateSpec!, 6 successfulJobsHistoryLimit i32?, 7 failedJobsHistoryLimit i32?
CronJobStatus: 1 active [ObjectReference, 4 lastScheduleTime T?, 5 lastSuccessfulTime T?
CronJob: 1 metadata ObjectMeta, 2 spec CronJobSpec, 3 status CronJobStatus

ServiceBackendPort: 1 name s, 2 number i32
IngressServiceBackend: 1 name s!, 2 port ServiceBackendPort
IngressBackend: 4 service IngressServiceBackend?, 3 resource TypedLocalObjectReference?
HTTPIngressPath: 1 path s, 3 pathType s~, 2 backend IngressBackend
HTTPIngressRuleValue: 1 paths [HTTPIngressPath!
IngressRuleValue: 1 http HTTPIngressRuleValue?
IngressRule: 1 host s, 2 ingressRuleValue IngressRuleValue^
IngressTLS: 1 hosts [s, 2 secretName s
IngressSpec: 4 ingressClassName s?, 1 defaultBackend IngressBackend?, 2 tls [IngressTLS, 3 rules [IngressRule
IngressPortStatus: 1 port i32!, 2 protocol s!, 3 error s?
IngressLoadBalancerIngress: 1 ip s, 2 hostname s, 4 ports [IngressPortStatus
IngressLoadBalancerStatus: 1 ingress [IngressLoadBalancerIngress
IngressStatus: 1 loadBalancer IngressLoadBalancerStatus
Ingress: 1 metadata ObjectMeta, 2 spec IngressSpec, 3 status IngressStatus
"""

# (apiVersion, kind) -> top-level message; other kinds raise UnsupportedProtobuf (415 in the server).
KINDS = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "Secret"): "Secret",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Service"): "Service",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Pod"): "Pod",
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "ReplicaSet"): "ReplicaSet",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
}

SCALARS = {"s", "i32", "i64", "b", "y"}
SPECIAL = {"Q", "T", "IOS", "F"}  # Quantity, Time, IntOrString, FieldsV1: custom JSON forms
POINTER_MODES = ("?", "~")  # a sent zero is kept


class Field:
    __slots__ = ("num", "name", "type", "repeated", "map", "mode")

    def __init__(self, num: int, name: str, spec: str):
        self.num, self.name = num, name
        self.repeated = spec.startswith("[")
        self.map = spec.startswith("{")
        if self.repeated or self.map:
            spec = spec[1:]
        self.mode = ""
        if spec[-1] in "?!~^":
            spec, self.mode = spec[:-1], spec[-1]
        self.type = spec

    @property
    def is_message(self) -> bool:
        return self.type not in SCALARS and self.type not in SPECIAL

    @property
    def always(self) -> bool:
        """No omitempty in Go: the key is in the JSON even when the field was not sent."""
        return self.mode in ("!", "~")


def _parse_schema(text: str) -> dict[str, dict[int, Field]]:
    schema: dict[str, dict[int, Field]] = {}
    joined = text.replace("\n  ", " ")
    for line in joined.splitlines():
        if not line.strip():
            continue
        name, _, rest = line.partition(":")
        fields: dict[int, Field] = {}
        for part in rest.split(","):
            num, json_name, spec = part.split()
            fields[int(num)] = Field(int(num), json_name, spec)
        schema[name.strip()] = fields
    for msg, fields in schema.items():  # fail at import, not at request time, on a typo in the table
        for f in fields.values():
            if f.is_message and f.type not in schema:
                raise RuntimeError(f"protobuf schema: {msg}.{f.name} refers to unknown message {f.type}")
    return schema


SCHEMA = _parse_schema(_SCHEMA_TEXT)


# -- decoding -------------------------------------------------------------------------------------
def _text(data: bytes) -> str:
    # Go strings may hold any bytes; encoding/json writes invalid UTF-8 as U+FFFD, and so do we.
    return data.decode("utf-8", errors="replace")


def _decode_time(data: bytes) -> str | None:
    if not data:
        return None  # metav1.Time's zero value marshals to an empty message and to JSON null
    seconds = 0
    for num, wt, value in _iter_fields(data):
        if num == 1:
            if wt != VARINT:
                raise ProtobufError("malformed protobuf: Time.seconds is not a varint")
            seconds = _signed(value, 64)
    # metav1.Time keeps whole seconds only (its Unmarshal drops nanos), rendered RFC 3339 in UTC.
    if seconds == _GO_ZERO_TIME:
        return None  # time.Unix of this instant IsZero, which Time marshals to JSON null
    try:
        t = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ProtobufError(f"malformed protobuf: Time seconds {seconds} out of range") from None
    # Go writes the year with 4 digits always (strftime's %Y does not pad years before 1000 on glibc).
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"


def _decode_quantity(data: bytes) -> str:
    value = "0"  # the zero Quantity is "0" in JSON
    for num, wt, raw in _iter_fields(data):
        if num == 1:
            if wt != LEN:
                raise ProtobufError("malformed protobuf: Quantity.string is not length-delimited")
            value = _text(raw)
    return value


def _decode_int_or_string(data: bytes) -> int | str:
    kind, int_val, str_val = 0, 0, ""
    for num, wt, value in _iter_fields(data):
        if num in (1, 2):
            if wt != VARINT:
                raise ProtobufError("malformed protobuf: IntOrString number is not a varint")
            if num == 1:
                kind = _signed(value, 64)
            else:
                int_val = _signed(value, 32)
        elif num == 3:
            if wt != LEN:
                raise ProtobufError("malformed protobuf: IntOrString.strVal is not length-delimited")
            str_val = _text(value)
    if kind == 0:
        return int_val
    if kind == 1:
        return str_val
    raise ProtobufError(f"malformed protobuf: IntOrString type {kind} is neither 0 (int) nor 1 (string)")


def _decode_fields_v1(data: bytes):
    raw = b""
    for num, wt, value in _iter_fields(data):
        if num == 1:
            if wt != LEN:
                raise ProtobufError("malformed protobuf: FieldsV1.Raw is not length-delimited")
            raw = value
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ProtobufError("malformed protobuf: FieldsV1 does not hold JSON") from None


def _scalar(f: Field, wt: int, value):
    if f.type in ("s", "y"):
        if wt != LEN:
            raise ProtobufError(f"malformed protobuf: field {f.name} should be length-delimited")
        return _text(value) if f.type == "s" else base64.b64encode(value).decode("ascii")
    if wt != VARINT:
        raise ProtobufError(f"malformed protobuf: field {f.name} should be a varint")
    if f.type == "b":
        return value != 0
    return _signed(value, 32 if f.type == "i32" else 64)


def _zero(f: Field):
    """The JSON of a Go zero value: null for slices, maps, pointers and Time."""
    if f.repeated or f.map or f.is_message or f.mode in POINTER_MODES or f.type in ("T", "F"):
        return None
    return {"s": "", "y": "", "i32": 0, "i64": 0, "b": False, "Q": "0", "IOS": 0}[f.type]


def _decode_value(f: Field, data: bytes):
    if f.type == "F":
        return _decode_fields_v1(data)
    if f.type == "T":
        return _decode_time(data)
    if f.type == "Q":
        return _decode_quantity(data)
    if f.type == "IOS":
        return _decode_int_or_string(data)
    return _decode_message(f.type, data)


def _decode_map_entry(f: Field, data: bytes) -> tuple[str, object]:
    key, value, seen = "", None, False
    for num, wt, raw in _iter_fields(data):
        if num == 1:
            if wt != LEN:
                raise ProtobufError(f"malformed protobuf: map key of {f.name} should be length-delimited")
            key = _text(raw)
        elif num == 2:
            seen = True
            if f.type in SCALARS:
                value = _scalar(f, wt, raw)
            else:
                if wt != LEN:
                    raise ProtobufError(f"malformed protobuf: map value of {f.name} should be length-delimited")
                value = _decode_value(f, raw)
    if not seen:  # an entry without a value holds the zero value
        value = _decode_value(f, b"") if f.type not in SCALARS else _zero(f)
    return key, value


def _decode_message(name: str, data: bytes) -> dict:
    fields = SCHEMA[name]
    singles: dict[int, object] = {}
    chunks: dict[int, list[bytes]] = {}  # singular messages: occurrences merge, as protobuf specifies
    lists: dict[int, list] = {}
    maps: dict[int, dict] = {}
    for num, wt, value in _iter_fields(data):
        f = fields.get(num)
        if f is None:
            continue  # unknown field: skipped, as the Go unmarshaller does
        if f.map:
            if wt != LEN:
                raise ProtobufError(f"malformed protobuf: map field {f.name} should be length-delimited")
            k, v = _decode_map_entry(f, value)
            maps.setdefault(num, {})[k] = v
        elif f.repeated:
            items = lists.setdefault(num, [])
            if f.type in SCALARS and f.type not in ("s", "y") and wt == LEN:  # packed repeated numbers
                pos = 0
                while pos < len(value):
                    n, pos = _read_varint(value, pos)
                    items.append(_scalar(f, VARINT, n))
            elif f.type in SCALARS:
                items.append(_scalar(f, wt, value))
            else:
                if wt != LEN:
                    raise ProtobufError(f"malformed protobuf: field {f.name} should be length-delimited")
                items.append(_decode_value(f, value))
        elif f.type in SCALARS:
            singles[num] = _scalar(f, wt, value)
        else:
            if wt != LEN:
                raise ProtobufError(f"malformed protobuf: field {f.name} should be length-delimited")
            if f.type in ("T", "Q"):  # their Go Unmarshal replaces rather than merges
                chunks[num] = [value]
            else:
                chunks.setdefault(num, []).append(value)
    out: dict = {}
    for num, f in fields.items():
        if num in maps:
            value = maps[num]
        elif num in lists:
            value = lists[num]
        elif num in chunks:
            value = _decode_value(f, b"".join(chunks[num]))
            if f.mode == "^":
                out.update(value)
                continue
        elif num in singles:
            value = singles[num]
            if f.mode == "" and not value:
                continue  # omitempty drops a zero non-pointer scalar
        elif f.always:
            value = _zero(f)
        else:
            continue
        out[f.name] = value
    return out


def _decode_unknown(body: bytes) -> tuple[str, str, bytes]:
    api_version = kind = content_encoding = content_type = ""
    raw = b""
    for num, wt, value in _iter_fields(body):
        if num in (1, 2, 3, 4) and wt != LEN:
            raise ProtobufError(f"malformed protobuf: runtime.Unknown field {num} should be length-delimited")
        if num == 1:
            for tnum, twt, tvalue in _iter_fields(value):
                if twt == LEN and tnum == 1:
                    api_version = _text(tvalue)
                elif twt == LEN and tnum == 2:
                    kind = _text(tvalue)
        elif num == 2:
            raw = value
        elif num == 3:
            content_encoding = _text(value)
        elif num == 4:
            content_type = _text(value)
    if content_encoding:
        raise UnsupportedProtobuf(f"unsupported protobuf content encoding {content_encoding!r}")
    if content_type not in ("", CONTENT_TYPE):
        raise UnsupportedProtobuf(f"unsupported content type {content_type!r} inside the protobuf envelope")
    return api_version, kind, raw


def decode_object(body: bytes) -> dict:
    """Decode a ``application/vnd.kubernetes.protobuf`` body into the JSON dict of the same object.

    Raises ``ProtobufError`` (a ``ValueError``) when the body is not a well-formed Kubernetes protobuf
    object, and its subclass ``UnsupportedProtobuf`` when it is well formed but carries a kind (or a
    content encoding) this emulator has no schema for.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise ProtobufError("a protobuf body must be bytes")
    body = bytes(body)
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body: the 4-byte prefix k8s\\x00 is missing")
    api_version, kind, raw = _decode_unknown(body[len(MAGIC):])
    if not kind or not api_version:
        raise ProtobufError("malformed protobuf: the envelope names no apiVersion/kind")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise UnsupportedProtobuf(f"unsupported kind for protobuf bodies: {api_version}/{kind}; send JSON")
    obj = {"kind": kind, "apiVersion": api_version}
    obj.update(_decode_message(message, raw))
    return obj




# -- encoding -------------------------------------------------------------------------------------
def _encode_time(value) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ValueError(f"a Time must be an RFC 3339 string, not {type(value).__name__}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"a Time must be an RFC 3339 string, not {value!r}") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    seconds = int(ts.timestamp())
    if seconds == _GO_ZERO_TIME:
        return b""
    return _tag(1, VARINT) + _varint(seconds) + _tag(2, VARINT) + _varint(0)


def _encode_quantity(value) -> bytes:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"a Quantity must be a string or number, not {type(value).__name__}")
    return _len_field(1, str(value).encode())


def _encode_int_or_string(value) -> bytes:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"an IntOrString must be an int or a string, not {type(value).__name__}")
    if isinstance(value, int):
        return _tag(1, VARINT) + _varint(0) + _tag(2, VARINT) + _varint(value) + _len_field(3, b"")
    return _tag(1, VARINT) + _varint(1) + _tag(2, VARINT) + _varint(0) + _len_field(3, value.encode())


def _encode_scalar(f: Field, num: int, value) -> bytes:
    if f.type == "s":
        if not isinstance(value, str):
            raise ValueError(f"field {f.name} must be a string")
        return _len_field(num, value.encode())
    if f.type == "y":
        if not isinstance(value, str):
            raise ValueError(f"field {f.name} must be a base64 string")
        try:
            return _len_field(num, base64.b64decode(value, validate=True))
        except ValueError:
            raise ValueError(f"field {f.name} is not valid base64") from None
    if f.type == "b":
        if not isinstance(value, bool):
            raise ValueError(f"field {f.name} must be a boolean")
        return _tag(num, VARINT) + _varint(int(value))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"field {f.name} must be an integer")
    bits = 32 if f.type == "i32" else 64
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError(f"field {f.name} does not fit in int{bits}")
    return _tag(num, VARINT) + _varint(value)


def _encode_value(f: Field, value) -> bytes:
    if f.type == "F":
        return _len_field(1, json.dumps(value, separators=(",", ":")).encode())
    if f.type == "T":
        return _encode_time(value)
    if f.type == "Q":
        return _encode_quantity(value)
    if f.type == "IOS":
        return _encode_int_or_string(value)
    if not isinstance(value, dict):
        raise ValueError(f"field {f.name} must be an object")
    return _encode_message(f.type, value)


def _inline_names(message: str) -> list[Field]:
    names = []
    for f in SCHEMA[message].values():
        names.extend(_inline_names(f.type) if f.mode == "^" else [f])
    return names


def _encode_message(name: str, obj: dict) -> bytes:
    out = bytearray()
    for num in sorted(SCHEMA[name]):
        f = SCHEMA[name][num]
        if f.mode == "^":  # Go always writes an embedded struct, even an empty one
            inner = {k: obj[k] for k in (g.name for g in _inline_names(f.type)) if k in obj}
            out += _len_field(num, _encode_message(f.type, inner))
            continue
        if f.name not in obj:
            continue
        value = obj[f.name]
        if value is None:  # JSON null: an unset pointer/slice/map, or a zero Time (an empty message)
            if f.type == "T" and not (f.repeated or f.map):
                out += _len_field(num, b"")
            continue
        if f.map:
            if not isinstance(value, dict):
                raise ValueError(f"field {f.name} must be an object")
            for k in sorted(value):
                v = value[k]
                entry = _len_field(1, str(k).encode())
                entry += _encode_scalar(f, 2, v) if f.type in SCALARS else _len_field(2, _encode_value(f, v))
                out += _len_field(num, entry)
        elif f.repeated:
            if not isinstance(value, list):
                raise ValueError(f"field {f.name} must be a list")
            for item in value:
                out += _encode_scalar(f, num, item) if f.type in SCALARS else _len_field(num, _encode_value(f, item))
        elif f.type in SCALARS:
            out += _encode_scalar(f, num, value)
        else:
            out += _len_field(num, _encode_value(f, value))
    return bytes(out)


def encode_object(obj: dict) -> bytes:
    """Encode a JSON-form object of a supported kind as a Kubernetes protobuf body (the inverse of decode)."""
    if not isinstance(obj, dict):
        raise ValueError("an object must be a dict")
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise ValueError(f"unsupported kind for protobuf bodies: {api_version}/{kind}")
    type_meta = _len_field(1, api_version.encode()) + _len_field(2, kind.encode())
    raw = _encode_message(message, obj)
    unknown = _len_field(1, type_meta) + _len_field(2, raw) + _len_field(3, b"") + _len_field(4, b"")
    return MAGIC + unknown


__all__ = ["CONTENT_TYPE", "KINDS", "SCHEMA", "ProtobufError", "UnsupportedProtobuf", "decode_object",
           "encode_object"]
