package approvalmonitor.es;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.Node;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One Elasticsearch node on loopback, built from the server jars on Maven Central.
 *
 * The released distribution starts a node through its own launcher, CLI and native tooling,
 * none of which is published to Maven Central. This main does only what a single test or
 * development node needs: the server and the modules found under HOME/modules (netty4 for HTTP,
 * and this project's root plugin for GET/HEAD /), security absent, disk watermarks off.
 *
 * Usage: SingleNode HOME DATA HTTP_PORT TRANSPORT_PORT HEAP_LABEL
 */
public final class SingleNode {
    private SingleNode() {}

    public static void main(String[] args) throws Exception {
        Path home = Path.of(args[0]).toAbsolutePath();
        Path data = Path.of(args[1]).toAbsolutePath();
        String httpPort = args[2];
        String transportPort = args[3];
        Files.createDirectories(data);
        Files.createDirectories(home.resolve("logs"));
        Files.createDirectories(home.resolve("plugins"));
        Files.createDirectories(home.resolve("config"));
        // Warnings and errors to the console (the launcher's log file); no log4j2.properties needed.
        LogConfigurator.configureWithoutConfig(Settings.builder().put("logger.level", "WARN").build());
        LogConfigurator.setNodeName("approval-monitor-es");
        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", data.toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "approval-monitor")
            .put("node.name", "approval-monitor-es")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", httpPort)
            .put("transport.port", transportPort)
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.destructive_requires_name", false)
            .build();
        Environment env = new Environment(settings, home.resolve("config"));
        Node node = new Node(env);
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "approval-monitor-es-stop"));
        node.start();
        System.out.println("approval-monitor-es started on 127.0.0.1:" + httpPort);
        System.out.flush();
        closed.await();
    }
}
