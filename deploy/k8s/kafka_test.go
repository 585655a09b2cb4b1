package k8s_test

import (
	"strings"
	"testing"
)

// The Kafka clients (flight app, predictor) get the SASL password by
// reference to the out-of-band Secret datalab-kafka, optional so that
// clusters with MSK IAM or an in-cluster Kafka need none; no other pod gets
// it; the EKS overlay connects to MSK's IAM listener over TLS.
func TestKafkaPasswordByReference(t *testing.T) {
	clients := map[string]bool{"flight-app": true, "flight-predictor": true}
	for _, o := range overlays {
		inv := index(renderTyped(t, o.dir))
		seen := map[string]bool{}
		for _, pod := range inv.pods {
			app := pod.labels[nameLabel]
			for _, c := range pod.spec.Containers {
				for _, e := range c.Env {
					if !strings.HasPrefix(e.Name, "DATALAB_KAFKA_SASL_PASSWORD") {
						continue
					}
					seen[app] = true
					ref := e.ValueFrom
					switch {
					case !clients[app]:
						t.Errorf("%s: %s gets %s, which only the Kafka clients need", o.dir, app, e.Name)
					case e.Value != "" || ref == nil || ref.SecretKeyRef == nil:
						t.Errorf("%s: %s: %s is not a secretKeyRef", o.dir, app, e.Name)
					case ref.SecretKeyRef.Name != "datalab-kafka" || ref.SecretKeyRef.Key != "sasl-password" ||
						ref.SecretKeyRef.Optional == nil || !*ref.SecretKeyRef.Optional:
						t.Errorf("%s: %s: %s from %+v, want the optional datalab-kafka/sasl-password", o.dir, app, e.Name, *ref.SecretKeyRef)
					}
				}
			}
		}
		for app := range clients {
			if !seen[app] {
				t.Errorf("%s: %s does not get DATALAB_KAFKA_SASL_PASSWORD", o.dir, app)
			}
		}
		for _, s := range inv.secrets {
			if s.Name == "datalab-kafka" {
				t.Errorf("%s: the Secret datalab-kafka is rendered; it is created out of band", o.dir)
			}
		}
		if o.dir == "overlays/eks" {
			cm := inv.configMaps["datalab-config"]
			if cm == nil {
				for name, c := range inv.configMaps {
					if strings.HasPrefix(name, "datalab-config") {
						cm = c
					}
				}
			}
			if cm == nil {
				t.Fatalf("%s: no datalab-config ConfigMap", o.dir)
			}
			if cm.Data["DATALAB_KAFKA_TLS"] != "true" || cm.Data["DATALAB_KAFKA_SASL_MECHANISM"] != "AWS_MSK_IAM" ||
				!strings.Contains(cm.Data["DATALAB_BROKERS"], ":9098") {
				t.Errorf("%s: Kafka settings %q %q %q, want MSK's IAM listener (TLS, AWS_MSK_IAM, port 9098)", o.dir,
					cm.Data["DATALAB_BROKERS"], cm.Data["DATALAB_KAFKA_TLS"], cm.Data["DATALAB_KAFKA_SASL_MECHANISM"])
			}
		}
	}
}
