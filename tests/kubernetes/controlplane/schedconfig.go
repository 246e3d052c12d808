package main

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// defaultSchedulerConfig is used without --scheduler-config: one profile, default-scheduler,
// with the in-tree plugins and no extender.
const defaultSchedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
`

// writeSchedulerConfig reads the KubeSchedulerConfiguration at src ("" = the default above),
// points it at this control plane and writes it to dst:
//   - clientConnection.kubeconfig = the admin kubeconfig (kube-scheduler ignores its
//     --kubeconfig flag when --config is given);
//   - leaderElection.leaderElect = false (one scheduler; no Lease round trips before it starts);
//   - with extenderURLPrefix != "", every extenders[].urlPrefix = extenderURLPrefix, so the
//     configs the project ships (deploy/scheduler/, which name the in-cluster Service) can be
//     pointed at a gpufitd or a test server on loopback unchanged otherwise.
//
// Everything else is kept as written; kube-scheduler itself validates the result.
func writeSchedulerConfig(src, dst, kubeconfig, extenderURLPrefix string) error {
	data := []byte(defaultSchedulerConfig)
	if src != "" {
		var err error
		if data, err = os.ReadFile(src); err != nil {
			return fmt.Errorf("--scheduler-config: %w", err)
		}
	}
	var cfg map[string]interface{}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("--scheduler-config %s: not YAML: %w", src, err)
	}
	if cfg == nil {
		return fmt.Errorf("--scheduler-config %s: empty", src)
	}
	section := func(key string) (map[string]interface{}, error) {
		switch v := cfg[key].(type) {
		case nil:
			m := map[string]interface{}{}
			cfg[key] = m
			return m, nil
		case map[string]interface{}:
			return v, nil
		default:
			return nil, fmt.Errorf("--scheduler-config %s: %s: must be a mapping", src, key)
		}
	}
	clientConnection, err := section("clientConnection")
	if err != nil {
		return err
	}
	clientConnection["kubeconfig"] = kubeconfig
	leaderElection, err := section("leaderElection")
	if err != nil {
		return err
	}
	leaderElection["leaderElect"] = false

	if extenderURLPrefix != "" {
		extenders, _ := cfg["extenders"].([]interface{})
		if len(extenders) == 0 {
			return fmt.Errorf("--extender-url-prefix: --scheduler-config %s has no extenders", src)
		}
		for i, e := range extenders {
			m, ok := e.(map[string]interface{})
			if !ok {
				return fmt.Errorf("--scheduler-config %s: extenders[%d]: must be a mapping", src, i)
			}
			m["urlPrefix"] = extenderURLPrefix
		}
	}

	out, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return writeFileAtomic(dst, out, 0o644)
}
