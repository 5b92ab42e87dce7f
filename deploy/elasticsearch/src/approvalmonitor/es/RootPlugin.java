package approvalmonitor.es;

import org.apache.lucene.util.Version;
import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.metadata.IndexNameExpressionResolver;
import org.elasticsearch.cluster.node.DiscoveryNodes;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.io.stream.NamedWriteableRegistry;
import org.elasticsearch.common.settings.ClusterSettings;
import org.elasticsearch.common.settings.IndexScopedSettings;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.common.settings.SettingsFilter;
import org.elasticsearch.features.NodeFeature;
import org.elasticsearch.plugins.ActionPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.rest.RestChannel;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;

import java.util.Collection;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Serves GET / and HEAD / (the official clients' info() and ping()).
 *
 * The distribution answers them with its rest-root module, which is not published to Maven
 * Central; this plugin gives the same fields from the node's own build and cluster state.
 */
public final class RootPlugin extends Plugin implements ActionPlugin {
    private volatile ClusterService clusterService;

    @Override
    public Collection<?> createComponents(PluginServices services) {
        clusterService = services.clusterService();
        return List.of();
    }

    @Override
    public Collection<RestHandler> getRestHandlers(
        Settings settings,
        NamedWriteableRegistry namedWriteableRegistry,
        RestController restController,
        ClusterSettings clusterSettings,
        IndexScopedSettings indexScopedSettings,
        SettingsFilter settingsFilter,
        IndexNameExpressionResolver indexNameExpressionResolver,
        Supplier<DiscoveryNodes> nodesInCluster,
        Predicate<NodeFeature> clusterSupportsFeature
    ) {
        return List.of(new Root());
    }

    private final class Root implements RestHandler {
        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        public void handleRequest(RestRequest request, RestChannel channel, NodeClient client) {
            Build build = Build.current();
            var state = clusterService.state();
            String body = "{"
                + "\"name\":\"" + clusterService.getNodeName() + "\","
                + "\"cluster_name\":\"" + state.getClusterName().value() + "\","
                + "\"cluster_uuid\":\"" + state.metadata().clusterUUID() + "\","
                + "\"version\":{"
                + "\"number\":\"" + build.qualifiedVersion() + "\","
                + "\"build_flavor\":\"default\","
                + "\"build_type\":\"" + build.type().displayName() + "\","
                + "\"build_hash\":\"" + build.hash() + "\","
                + "\"build_date\":\"" + build.date() + "\","
                + "\"build_snapshot\":" + build.isSnapshot() + ","
                + "\"lucene_version\":\"" + Version.LATEST + "\","
                + "\"minimum_wire_compatibility_version\":\"" + build.minWireCompatVersion() + "\","
                + "\"minimum_index_compatibility_version\":\"" + build.minIndexCompatVersion() + "\"},"
                + "\"tagline\":\"You Know, for Search\"}";
            channel.sendResponse(new RestResponse(RestStatus.OK, "application/json", body));
        }
    }
}
